"""XEP-0016 privacy lists: list names, get, set, active and default lists,
conflicts, pushes, errors, and what items by jid, group and subscription
do per stanza kind (the mechanism XEP-0191 blocking also uses)."""

import xml.etree.ElementTree as ET

from clients import NS_CLIENT, q, stanza_error
from cluster import SM_LIMITS
from rfc6121 import (accounts, bare, next_stanza, online, roster_set, send_msg, send_presence, sync,
                     two_resources_contact_witness, xs)

NS_PRIV = "jabber:iq:privacy"


async def priv(c, itype, inner=""):
    return await c.iq(itype, f"<query xmlns='{NS_PRIV}'>{inner}</query>")


def ok(r):
    assert r.get("type") == "result", ET.tostring(r)
    return r.find(q(NS_PRIV, "query"))


def pushes(got):
    return [x.find(q(NS_PRIV, "query")).find(q(NS_PRIV, "list")).get("name") for x in got
            if x.tag == q(NS_CLIENT, "iq") and x.get("type") == "set" and x.find(q(NS_PRIV, "query")) is not None]


def from_bare(got, who):
    return [xs(x) for x in got if bare(x.get("from") or "") == who]


def test_lists_active_default_and_enforcement(cluster, users, client, arun):
    async def body():
        u, k, u1, u2, kc, wc = await two_resources_contact_witness(client, users, "pr")
        assert len(ok(await priv(u1, "get"))) == 0, "no lists at first"

        # a list denying k's messages, pushed to both resources
        ok(await priv(u1, "set", f"<list name='nomsg'><item type='jid' value='{k}' action='deny' order='1'>"
                                 "<message/></item><item action='allow' order='2'/></list>"))
        got = await sync(u1, u2, wc, pairs=[(wc, u1), (wc, u2)])
        assert pushes(got[u1]) == ["nomsg"] and pushes(got[u2]) == ["nomsg"]
        lst = ok(await priv(u2, "get", "<list name='nomsg'/>")).find(q(NS_PRIV, "list"))
        items = [(i.get("type"), i.get("value"), i.get("action"), i.get("order"), [c.tag for c in i]) for i in lst]
        assert items == [("jid", k, "deny", "1", [q(NS_PRIV, "message")]), (None, None, "allow", "2", [])]

        # active on u1 only: k's message to u1's full JID bounces, to u2 it arrives; presence passes
        ok(await priv(u1, "set", "<active name='nomsg'/>"))
        names = ok(await priv(u1, "get"))
        assert [(c.tag, c.get("name")) for c in names] == [(q(NS_PRIV, "active"), "nomsg"), (q(NS_PRIV, "list"), "nomsg")]
        send_msg(kc, u1.jid, "chat", body="to one")
        e = await next_stanza(kc, what="the refusal")
        assert stanza_error(e) == ("cancel", "service-unavailable"), xs(e)
        send_msg(kc, u2.jid, "chat", body="to two")
        send_presence(kc, status="k again")
        got = await sync(u1, u2, kc, wc, pairs=[(wc, u1), (wc, u2), (wc, kc)])
        assert [x.findtext(q(NS_CLIENT, "body")) for x in got[u2] if x.tag == q(NS_CLIENT, "message")] == ["to two"]
        assert [x.get("from") for x in got[u1] if x.tag == q(NS_CLIENT, "presence")] == [kc.jid], "presence passes"
        assert not [x for x in got[u1] if x.tag == q(NS_CLIENT, "message") and bare(x.get("from")) == k]

        # a default list denying k's presence-in applies to u2 (no active list), not to u1
        ok(await priv(u2, "set", "<list name='nopres'><item type='subscription' value='both' action='deny' "
                                 "order='5'><presence-in/></item></list>"))
        ok(await priv(u2, "set", "<default name='nopres'/>"))
        send_presence(kc, status="k thrice")
        got = await sync(u1, u2, kc, wc, pairs=[(wc, u1), (wc, u2), (wc, kc)])
        assert [x.get("from") for x in got[u1] if x.tag == q(NS_CLIENT, "presence")] == [kc.jid]
        assert not [x for x in got[u2] if x.tag == q(NS_CLIENT, "presence") and bare(x.get("from")) == k]

        # conflicts: the default applies to u2, so u1 may neither drop nor replace it nor remove the list
        for inner in ("<default/>", "<default name='nomsg'/>", "<list name='nopres'/>"):
            r = await priv(u1, "set", inner)
            assert r.get("type") == "error" and stanza_error(r) == ("cancel", "conflict"), inner
        # u2 may; declining the default, then removing the list
        ok(await priv(u2, "set", "<default/>"))
        ok(await priv(u2, "set", "<list name='nopres'/>"))
        names = ok(await priv(u2, "get"))
        assert [(c.tag, c.get("name")) for c in names] == [(q(NS_PRIV, "list"), "nomsg")]
        # presence-out: u1's broadcast does not reach k
        ok(await priv(u1, "set", f"<list name='nomsg'><item type='jid' value='{k}' action='deny' order='1'>"
                                 "<presence-out/></item></list>"))
        send_presence(u1, status="hidden from k")
        got = await sync(u1, kc, wc, pairs=[(wc, kc), (wc, u1)])
        assert not [x for x in got[kc] if x.get("from") == u1.jid], from_bare(got[kc], u)

    arun(body())


def test_privacy_errors(cluster, users, client, arun):
    (u,) = accounts(users, ["pre"])

    async def body():
        uc = await online(client, u, "u")
        ok(await priv(uc, "set", "<list name='a'><item action='allow' order='1'/></list>"))
        cases = [
            ("get", "<list name='a'/><list name='b'/>", ("modify", "bad-request")),
            ("get", "<list name='none'/>", ("cancel", "item-not-found")),
            ("set", "<active name='a'/><default name='a'/>", ("modify", "bad-request")),
            ("set", "<active name='none'/>", ("cancel", "item-not-found")),
            ("set", "<default name='none'/>", ("cancel", "item-not-found")),
            ("set", "<list name='none'/>", ("cancel", "item-not-found")),
            ("set", "<list name='b'><item action='allow' order='1'/><item action='deny' order='1'/></list>",
             ("modify", "bad-request")),
            ("set", "<list name='b'><item action='maybe' order='1'/></list>", ("modify", "bad-request")),
            ("set", "<list name='b'><item action='deny'/></list>", ("modify", "bad-request")),
            ("set", "<list name='b'><item action='deny' order='-1'/></list>", ("modify", "bad-request")),
            ("set", "<list name='b'><item type='subscription' value='some' action='deny' order='1'/></list>",
             ("modify", "bad-request")),
            ("set", "<list name='b'><item type='group' value='Nobody' action='deny' order='1'/></list>",
             ("cancel", "item-not-found")),
            ("set", "<list name='b'><item type='jid' value='a@b@c' action='deny' order='1'/></list>",
             ("modify", "jid-malformed")),
            ("set", "<list name='b'><item type='jid' value='x@y' action='deny' order='1'><oops/></item></list>",
             ("modify", "bad-request")),
        ]
        for itype, inner, cond in cases:
            r = await priv(uc, itype, inner)
            assert r.get("type") == "error" and stanza_error(r) == cond, (itype, inner)
        names = ok(await priv(uc, "get"))
        assert [c.get("name") for c in names] == ["a"], "nothing was created by the refused sets"
        # a group in the roster is fine
        await roster_set(uc, "friend@example.org", groups=["Friends"])
        ok(await priv(uc, "set", "<list name='g'><item type='group' value='Friends' action='deny' order='1'/></list>"))

    arun(body())


def test_privacy_limits(cluster, users, client, arun):
    """sm.max_privacy_lists and sm.max_privacy_items (cluster.SM_LIMITS):
    past them <policy-violation/>; the blocklist counts against the items."""
    (u,) = accounts(users, ["prl"])
    nlists, nitems = SM_LIMITS["max_privacy_lists"], SM_LIMITS["max_privacy_items"]

    def items(n):
        return "".join(f"<item type='jid' value='x{i}@example.org' action='deny' order='{i}'/>" for i in range(n))

    async def body():
        uc = await online(client, u, "u")
        r = await priv(uc, "set", f"<list name='big'>{items(nitems + 1)}</list>")
        assert stanza_error(r) == ("modify", "policy-violation")
        for i in range(nlists):
            ok(await priv(uc, "set", f"<list name='l{i}'>{items(nitems)}</list>"))
        r = await priv(uc, "set", f"<list name='one-more'>{items(1)}</list>")
        assert stanza_error(r) == ("modify", "policy-violation")
        ok(await priv(uc, "set", f"<list name='l0'>{items(2)}</list>"))   # replacing is fine
        ok(await priv(uc, "set", "<default name='l0'/>"))
        jids = "".join(f"<item jid='b{i}@example.org'/>" for i in range(nitems - 1))
        r = await uc.iq("set", f"<block xmlns='urn:xmpp:blocking'>{jids}</block>")
        assert stanza_error(r) == ("modify", "policy-violation"), "2 items + 4 blocked > 5"
        r = await uc.iq("set", "<block xmlns='urn:xmpp:blocking'><item jid='b@example.org'/></block>")
        assert r.get("type") == "result"

    arun(body())


def test_item_types_kinds_and_order(cluster, users, client, arun):
    """Items are processed by order and the first match decides: a group
    allow before a jid deny for IQs, and a fall-through deny for
    messages; per-kind items touch only their kind."""

    async def body():
        u, k, u1, u2, kc, wc = await two_resources_contact_witness(client, users, "pro")
        w = bare(wc.jid)
        await roster_set(u1, k, groups=["Friends"])
        await sync(u1, u2, kc, wc)
        ok(await priv(u1, "set", "<list name='mix'>"
                                 "<item type='jid' value='%s' action='deny' order='20'><iq/></item>"
                                 "<item action='deny' order='30'><message/></item>"
                                 "<item type='group' value='Friends' action='allow' order='10'/>"
                                 "</list>" % w))
        ok(await priv(u1, "set", "<active name='mix'/>"))
        await sync(u1, u2, kc, wc, pairs=[(u2, u1), (u2, kc), (u2, wc)])   # w's markers would be refused now
        send_msg(kc, u1.jid, "chat", body="friend")
        send_msg(wc, u1.jid, "chat", body="stranger")
        e = await next_stanza(wc, what="the refusal of w's message")
        assert stanza_error(e) == ("cancel", "service-unavailable"), xs(e)
        kc.send_raw(f"<iq xmlns='{NS_CLIENT}' type='get' id='kiq' to='{u1.jid}'><q xmlns='urn:example:x'/></iq>")
        wc.send_raw(f"<iq xmlns='{NS_CLIENT}' type='get' id='wiq' to='{u1.jid}'><q xmlns='urn:example:x'/></iq>")
        got = await sync(u1, kc, wc, pairs=[(u2, u1), (u2, kc), (u2, wc)])
        at_u1 = [(x.tag, x.findtext(q(NS_CLIENT, "body")) if x.tag == q(NS_CLIENT, "message") else x.get("id"))
                 for x in got[u1] if x.tag != q(NS_CLIENT, "presence")]
        assert (q(NS_CLIENT, "message"), "friend") in at_u1 and (q(NS_CLIENT, "iq"), "kiq") in at_u1, at_u1
        assert (q(NS_CLIENT, "iq"), "wiq") not in at_u1, "the jid item denies w's IQs"
        assert not [x for x in got[u1] if x.tag == q(NS_CLIENT, "message") and bare(x.get("from")) == w]
        werr = [x for x in got[wc] if x.get("id") == "wiq"]
        assert werr and stanza_error(werr[0]) == ("cancel", "service-unavailable"), [xs(x) for x in got[wc]]
        # u2 has no active list and no default: everything reaches it
        send_msg(wc, u2.jid, "chat", body="to two")
        got = await sync(u2, wc)
        assert [x.findtext(q(NS_CLIENT, "body")) for x in got[u2] if x.tag == q(NS_CLIENT, "message")] == ["to two"]
        # both sessions refuse w's messages: one to the bare JID is answered, not lost
        ok(await priv(u2, "set", "<active name='mix'/>"))
        m = send_msg(wc, u, "chat", body="to anyone")
        e = await next_stanza(wc, what="the refusal of the bare-JID message")
        assert e.get("id") == m.get("id") and stanza_error(e) == ("cancel", "service-unavailable"), xs(e)

    arun(body())
