"""XEP-0191 blocking: blocklist get, block, unblock, unblock-all, pushes to
the resources that retrieved the blocklist, and what a block does to
messages, IQs and presence in both directions (enforced by the same
privacy-list mechanism as XEP-0016)."""

import xml.etree.ElementTree as ET

from clients import NS_CLIENT, q, stanza_error
from rfc6121 import (accounts, bare, close_and_wait, next_stanza, online, send_msg, send_presence, sync,
                     two_resources_contact_witness, xs)

NS_BLOCK = "urn:xmpp:blocking"
NS_BLOCK_ERR = "urn:xmpp:blocking:errors"


async def blocklist(c):
    r = await c.iq("get", f"<blocklist xmlns='{NS_BLOCK}'/>")
    assert r.get("type") == "result", ET.tostring(r)
    b = r.find(q(NS_BLOCK, "blocklist"))
    return [i.get("jid") for i in b.findall(q(NS_BLOCK, "item"))]


def items_xml(jids):
    return "".join(f"<item jid='{j}'/>" for j in jids)


async def set_block(c, what, jids):
    r = await c.iq("set", f"<{what} xmlns='{NS_BLOCK}'>{items_xml(jids)}</{what}>")
    assert r.get("type") == "result", ET.tostring(r)


def push_of(x):
    """(kind, [jids]) of a blocking push, or None."""
    if x.tag != q(NS_CLIENT, "iq") or x.get("type") != "set":
        return None
    for kind in ("block", "unblock"):
        el = x.find(q(NS_BLOCK, kind))
        if el is not None:
            return kind, [i.get("jid") for i in el.findall(q(NS_BLOCK, "item"))]
    return None


async def next_push(c):
    """The next blocking push at c, skipping c's own presence coming back."""
    while True:
        x = await next_stanza(c, what="a blocking push")
        if push_of(x):
            return push_of(x)
        assert x.tag == q(NS_CLIENT, "presence") and bare(x.get("from")) == bare(c.jid), xs(x)


def test_block_and_unblock_a_contact(cluster, users, client, arun):
    async def body():
        u, k, u1, u2, kc, wc = await two_resources_contact_witness(client, users, "bl")
        assert await blocklist(u1) == [], "empty at first"

        # block: result, a push to u1 only, unavailable from both of u's resources to k
        await set_block(u1, "block", [k])
        got = await sync(u1, u2, wc, pairs=[(wc, u1), (wc, u2)])
        assert [push_of(x) for x in got[u1]] == [("block", [k])], [xs(x) for x in got[u1]]
        assert not [x for x in got[u2] if push_of(x)], "u2 never asked for the blocklist"
        seen = []
        while len(seen) < 2:
            x = await next_stanza(kc, what="unavailable presence from u's resources")
            if x.tag == q(NS_CLIENT, "presence"):
                assert x.get("type") == "unavailable", xs(x)
                seen.append(x.get("from"))
        assert sorted(seen) == sorted([u1.jid, u2.jid])
        assert await blocklist(u2) == [k]

        # k -> u: message and IQ get bounce with service-unavailable, presence vanishes
        m = send_msg(kc, u, "chat", body="hello?")
        e = await next_stanza(kc, what="the error for the blocked message")
        assert e.get("type") == "error" and e.get("id") == m.get("id") and stanza_error(e) == ("cancel", "service-unavailable")
        r = await kc.iq("get", "<query xmlns='jabber:iq:version'/>", to=u1.jid)
        assert stanza_error(r) == ("cancel", "service-unavailable")
        send_presence(kc, status="k changed")
        # u -> k: not-acceptable with <blocked/>, nothing reaches k
        m = send_msg(u2, k, "chat", body="can you hear me?")
        e = await next_stanza(u2, what="the blocked error")
        assert e.get("type") == "error" and e.get("from") == k and stanza_error(e) == ("cancel", "not-acceptable")
        assert e.find(q(NS_CLIENT, "error")).find(q(NS_BLOCK_ERR, "blocked")) is not None, xs(e)
        # IQs and directed presence to k are refused the same way
        r = await u2.iq("get", "<query xmlns='jabber:iq:version'/>", to=kc.jid)
        assert stanza_error(r) == ("cancel", "not-acceptable"), xs(r)
        assert r.find(q(NS_CLIENT, "error")).find(q(NS_BLOCK_ERR, "blocked")) is not None
        send_presence(u1, to=k, status="directed")
        e = await next_stanza(u1, what="the refusal of the directed presence")
        assert e.tag == q(NS_CLIENT, "presence") and e.get("type") == "error", xs(e)
        got = await sync(u1, u2, kc, wc, pairs=[(wc, u1), (wc, u2), (wc, kc)])
        for c in (u1, u2):
            assert not [x for x in got[c] if bare(x.get("from") or "") == k], [xs(x) for x in got[c]]
        assert not [x for x in got[kc] if bare(x.get("from") or "") == u], [xs(x) for x in got[kc]]

        # the block survives the sessions
        await close_and_wait(cluster, u1)
        await close_and_wait(cluster, u2)
        u3 = await online(client, u, "three", status="u3")
        assert await blocklist(u3) == [k]

        # unblock: push, k gets u3's presence, messages flow again
        await set_block(u3, "unblock", [k])
        assert await next_push(u3) == ("unblock", [k])
        x = await next_stanza(kc, what="u's presence after the unblock")
        assert x.tag == q(NS_CLIENT, "presence") and x.get("from") == u3.jid and x.get("type") is None, xs(x)
        send_msg(kc, u, "chat", body="back")
        x = await next_stanza(u3, what="k's message after the unblock")
        assert x.findtext(q(NS_CLIENT, "body")) == "back"
        assert await blocklist(u3) == []

    arun(body())


def test_unblock_all_and_resource_items(cluster, users, client, arun):
    u, k = accounts(users, ["bau", "bak"], shards="different")
    o = users.add("bao")

    async def body():
        uc = await online(client, u, "u")
        k1 = await online(client, k, "one")
        k2 = await online(client, k, "two")
        oc = await online(client, o, "o")
        await sync(uc, k1, k2, oc)
        assert await blocklist(uc) == []
        await set_block(uc, "block", [k1.jid, o])
        # only that resource of k is blocked
        send_msg(k2, u, "chat", body="from two")
        assert await next_push(uc) == ("block", [k1.jid, o])
        x = await next_stanza(uc, what="k2's message")
        assert x.get("from") == k2.jid, xs(x)
        send_msg(k1, u, "chat", body="from one")
        assert stanza_error(await next_stanza(k1)) == ("cancel", "service-unavailable")
        assert sorted(await blocklist(uc)) == sorted([k1.jid, o])
        r = await uc.iq("set", f"<unblock xmlns='{NS_BLOCK}'/>")
        assert r.get("type") == "result"
        assert await next_push(uc) == ("unblock", [])
        assert await blocklist(uc) == []
        send_msg(oc, u, "chat", body="free")
        assert (await next_stanza(uc)).get("from") == oc.jid

    arun(body())


def test_blocking_errors(cluster, users, client, arun):
    (u,) = accounts(users, ["bae"])

    async def body():
        uc = await online(client, u, "u")
        for payload, cond in ((f"<block xmlns='{NS_BLOCK}'/>", ("modify", "bad-request")),
                              (f"<block xmlns='{NS_BLOCK}'><item/></block>", ("modify", "bad-request")),
                              (f"<block xmlns='{NS_BLOCK}'><item jid='a@b@c'/></block>", ("modify", "jid-malformed")),
                              (f"<unblock xmlns='{NS_BLOCK}'><item jid=''/></unblock>", ("modify", "jid-malformed"))):
            r = await uc.iq("set", payload)
            assert r.get("type") == "error" and stanza_error(r) == cond, payload
        assert await blocklist(uc) == []

    arun(body())


def test_domain_item_blocks_everyone_there_but_oneself(cluster, users, client, arun):
    """A domain item matches every JID at the domain (XEP-0191 section 6),
    here every other local account; the user's own resources still talk."""
    u, o = accounts(users, ["bdu", "bdo"], shards="different")

    async def body():
        u1 = await online(client, u, "one")
        u2 = await online(client, u, "two")
        oc = await online(client, o, "o")
        await sync(u1, u2, oc)
        await set_block(u1, "block", [cluster.domain])
        send_msg(oc, u, "chat", body="anyone there?")
        assert stanza_error(await next_stanza(oc)) == ("cancel", "service-unavailable")
        send_msg(u2, u1.jid, "chat", body="me to me")
        x = await next_stanza(u1, what="the message from the user's other resource")
        while x.tag != q(NS_CLIENT, "message"):
            x = await next_stanza(u1, what="the message from the user's other resource")
        assert x.get("from") == u2.jid
        await set_block(u1, "unblock", [cluster.domain])
        send_msg(oc, u1.jid, "chat", body="now?")
        x = await next_stanza(u1, what="o's message after the unblock")
        while x.tag != q(NS_CLIENT, "message"):
            x = await next_stanza(u1, what="o's message after the unblock")
        assert x.get("from") == oc.jid

    arun(body())
