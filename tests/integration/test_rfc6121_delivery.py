"""RFC 6121 section 8.5: delivery of messages, IQs and errors to local
accounts by message type, number and priority of resources; IQs to bare
JIDs answered by the server; results and errors never answered.

Where Table 1 (8.5.4) allows "silently ignore or error" (S/E) the tests
accept either, but the stanza must reach no resource. A sender learns
that nothing came back by a follow-up stanza on the same path that is
answered (a groupchat or IQ to the same account), or by rfc6121.sync.
"""

import time

import pytest

from clients import stanza_error
from rfc6121 import (ERROR_PAYLOAD, NS_CLIENT, Bounce, Exp, Pat, accounts, check, collect_offline,
                     delivered, maybe, next_stanza, offline_copy, one, online, own_reflection,
                     parse, send_msg, send_presence, sync, xs)


def test_message_to_bare_jid_one_resource(cluster, users, client, arun):
    """One non-negative resource: normal, chat, headline delivered with
    'to' left as the bare JID; groupchat bounced; error dropped."""
    u, s = accounts(users, ["d1", "d1s"], shards="different")

    async def body():
        r = await online(client, u, "only", status="here")       # priority 0 (absent)
        sc = await online(client, s, "s", status="sender")
        await sync(r, sc)
        sent = [send_msg(sc, u, "chat", extra="<thread>t1</thread>"), send_msg(sc, u, None),
                send_msg(sc, u, "normal", extra="<subject>subj</subject>"), send_msg(sc, u, "headline")]
        gc = send_msg(sc, u, "groupchat")
        send_msg(sc, u, "error", body=None, extra=ERROR_PAYLOAD)
        got = await sync(r, sc)
        check(got[r], [one(delivered(sc, m)) for m in sent], r.jid, "bare JID, one resource")
        check(got[sc], [one(Bounce(sc, gc))], sc.jid, "groupchat to a bare JID is an error")
        assert [x.get("id") for x in got[r]] == [m.get("id") for m in sent], "in order"

    arun(body())


def test_message_to_bare_jid_priorities(cluster, users, client, arun):
    """Several resources: chat/normal to the highest non-negative
    priority, headline to every non-negative one, never to a negative
    one or a resource that sent no presence; a full JID that matches is
    always delivered (also negative or presence-less); chat to a full JID
    that matches nothing goes to the highest priority."""
    u, s = accounts(users, ["d2", "d2s"], shards="different")

    async def body():
        r5 = await online(client, u, "five", prio=5, status="5")
        r1 = await online(client, u, "one", prio=1, status="1")
        rn = await online(client, u, "neg", prio=-1, status="-1")
        rc = await online(client, u, "conn", pres=False)
        sc = await online(client, s, "s", status="sender")
        allc = [r5, r1, rn, rc, sc]
        await sync(*allc)

        async def check_all(expect, bounces=(), what="", maybe_bounces=()):
            """expect: {client: [(sent, to or None)]} delivered; nothing else."""
            got = await sync(*allc)
            for c in (r5, r1, rn, rc):
                check(got[c], [one(delivered(sc, m, to=to)) for (m, to) in expect.get(c, [])], c.jid, what)
            check(got[sc], [one(Bounce(sc, m)) for m in bounces] +
                  [maybe(Bounce(sc, m)) for m in maybe_bounces], sc.jid, what)

        chat, normal = send_msg(sc, u, "chat"), send_msg(sc, u, None)
        h = send_msg(sc, u, "headline")
        gc = send_msg(sc, u, "groupchat")
        fn = send_msg(sc, rn.jid, "chat", body="to the negative one")
        fc = send_msg(sc, rc.jid, None, body="to the presence-less one")
        await check_all({r5: [(chat, None), (normal, None), (h, None)], r1: [(h, None)],
                         rn: [(fn, None)], rc: [(fc, None)]}, [gc], "priorities 5/1/-1/none")

        p = send_presence(r5, prio=0, status="now 0")
        got = await sync(*allc)
        for c in (r5, r1, rn):
            check(got[c], [one(own_reflection(r5, c, p))], c.jid, "priority change")
        chat2 = send_msg(sc, u, "chat")
        stray = send_msg(sc, f"{u}/nothere", "chat", body="to a resource that is not there")
        stray_n = send_msg(sc, f"{u}/nothere", None, body="normal to nowhere")
        stray_h = send_msg(sc, f"{u}/nothere", "headline", body="headline to nowhere")
        stray_g = send_msg(sc, f"{u}/nothere", "groupchat", body="groupchat to nowhere")
        await check_all({r1: [(chat2, None), (stray, None)]}, [],
                        "priorities 0/1/-1: highest is 1; unmatched full JID",
                        maybe_bounces=[stray_n, stray_h, stray_g])

        p = send_presence(r5, prio=1, status="now 1")
        got = await sync(*allc)
        for c in (r5, r1, rn):
            check(got[c], [one(own_reflection(r5, c, p))], c.jid, "priority change")
        chat3 = send_msg(sc, u, "chat", body="tie")
        got = await sync(*allc)
        winners = [c for c in (r5, r1) if got[c]]
        assert winners, "a chat message to a tie of priorities reaches a resource with that priority"
        for c in winners:
            check(got[c], [one(delivered(sc, chat3))], c.jid, "tie of highest priorities")
        for c in (rn, rc):
            check(got[c], [], c.jid, "tie: not to the others")
        check(got[sc], [], sc.jid, "tie: no error")

    arun(body(), timeout=60)


def test_message_to_bare_jid_only_negative_resources(cluster, users, client, arun):
    """Only a negative resource: chat and normal are stored offline (as if
    no resource were available) and come with a delay stamp to the next
    resource with non-negative initial presence, not to the negative one;
    headline is dropped, groupchat bounced."""
    u, s = accounts(users, ["d3", "d3s"], shards="different")

    async def body():
        rn = await online(client, u, "neg", prio=-5, status="hidden")
        sc = await online(client, s, "s", status="sender")
        await sync(rn, sc)
        t0 = time.time()
        chat, normal = send_msg(sc, u, "chat"), send_msg(sc, u, None)
        send_msg(sc, u, "headline")
        gc = send_msg(sc, u, "groupchat")
        got = await sync(rn, sc)
        t1 = time.time()
        check(got[rn], [], rn.jid, "negative priority gets no bare-JID message")
        check(got[sc], [one(Bounce(sc, gc))], sc.jid, "only the groupchat is refused")
        r0 = await online(client, u, "zero", prio=0, status="visible")
        got = await collect_offline(r0, 2, also=[rn, sc])
        check(got[r0], [one(own_reflection(r0, r0)),
                        one(offline_copy(sc, chat, t0, t1, cluster.domain)),
                        one(offline_copy(sc, normal, t0, t1, cluster.domain)),
                        maybe(own_reflection(rn, r0))],
              r0.jid, "stored messages at the non-negative initial presence")
        check(got[rn], [one(own_reflection(r0, rn))], rn.jid, "not to the negative resource")

    arun(body())


@pytest.mark.parametrize("form", ["bare", "full"])
def test_message_to_nonexistent_account(form, cluster, users, client, arun):
    """8.5.1 / Table 1: to an account that does not exist, normal, chat
    and groupchat get <service-unavailable/>; headline to the bare JID is
    silently dropped (S), to a full JID dropped or bounced; error
    messages are dropped."""
    s = users.add("d4s")
    ghost = f"nobody-{time.monotonic_ns()}@{cluster.domain}" + ("/res" if form == "full" else "")

    async def body():
        sc = await online(client, s, "s", status="sender")
        await sync(sc)
        bounced = [send_msg(sc, ghost, t) for t in ("chat", None, "normal", "groupchat")]
        h = send_msg(sc, ghost, "headline")
        send_msg(sc, ghost, "error", body=None, extra=ERROR_PAYLOAD)
        last = send_msg(sc, ghost, "groupchat", body="the last one")
        seen = []
        while True:       # everything up to the last one's bounce (same path)
            x = await next_stanza(sc, 10, "the bounce of the last message")
            seen.append(x)
            if x.get("id") == last.get("id"):
                break
        exp = [one(Bounce(sc, m)) for m in bounced + [last]]
        exp.append(maybe(Bounce(sc, h)) if form == "full" else Exp(Bounce(sc, h), 0, 0))
        check(seen, exp, sc.jid, f"messages to a nonexistent account ({form} JID)")
        got = await sync(sc)
        check(got[sc], [], sc.jid, "nothing else")

    arun(body())


def test_iq_to_bare_jid_is_answered_by_the_server(cluster, users, client, arun):
    """8.5.2.1.3 / 8.5.2.2.3: an IQ to an account's bare JID is answered by
    the server for the account and never delivered to a resource, online
    or not: unknown payloads get <service-unavailable/> from the bare JID;
    a roster query of another account is refused with an error."""
    u, s, off = accounts(users, ["d5", "d5s", "d5off"], shards="different")

    async def body():
        r = await online(client, u, "r", status="here")
        sc = await online(client, s, "s", status="sender")
        await sync(r, sc)
        for target in (u, off):
            for itype in ("get", "set"):
                resp = await sc.iq(itype, "<query xmlns='urn:example:unknown'/>", to=target)
                assert resp.get("type") == "error" and resp.get("from") == target, xs(resp)
                assert stanza_error(resp) == ("cancel", "service-unavailable"), xs(resp)
            resp = await sc.iq("get", "<query xmlns='jabber:iq:roster'/>", to=target)
            assert resp.get("type") == "error" and resp.get("from") == target, \
                f"somebody else's roster must not be returned: {xs(resp)}"
            resp = await sc.iq("get", "<ping xmlns='urn:xmpp:ping'/>", to=target)
            assert resp.get("from") == target and (
                (resp.get("type") == "result" and len(resp) == 0) or resp.get("type") == "error"), xs(resp)
        own = await r.iq("get", "<query xmlns='jabber:iq:roster'/>", to=u)
        assert own.get("type") == "result" and own.find("{jabber:iq:roster}query") is not None, \
            f"a roster get addressed to the own bare JID is answered (2.6.2 example): {xs(own)}"
        got = await sync(r, sc)
        check(got[r], [], r.jid, "no IQ to the bare JID reached the resource")
        check(got[sc], [], sc.jid, "nothing else came back")

    arun(body())


def test_iq_to_full_jid_without_that_resource(cluster, users, client, arun):
    """8.5.3.2.3: an IQ to a full JID that matches no resource gets
    <service-unavailable/> (account with another resource online, and
    offline)."""
    u, s, off = accounts(users, ["d6", "d6s", "d6off"], shards="different")

    async def body():
        r = await online(client, u, "r", status="here")
        sc = await online(client, s, "s", status="sender")
        await sync(r, sc)
        for target in (f"{u}/gone", f"{off}/gone"):
            resp = await sc.iq("get", "<ping xmlns='urn:xmpp:ping'/>", to=target)
            assert resp.get("type") == "error" and resp.get("from") == target, xs(resp)
            assert stanza_error(resp) == ("cancel", "service-unavailable"), xs(resp)
        got = await sync(r, sc)
        check(got[r], [], r.jid, "nothing reached the other resource")

    arun(body())


def test_results_and_errors_are_never_answered_with_errors(cluster, users, client, arun):
    """IQ results and errors, error messages and error presence to places
    where a request would be bounced (no account, no resource, bare JID)
    get no answer; to an online full JID they are delivered."""
    u, s, off = accounts(users, ["d7", "d7s", "d7off"], shards="different")
    ghost = f"nobody-{time.monotonic_ns()}@{cluster.domain}"
    err = ERROR_PAYLOAD

    async def body():
        r = await online(client, u, "r", status="here")
        sc = await online(client, s, "s", status="sender")
        await sync(r, sc)
        targets = [ghost, f"{ghost}/x", u, f"{u}/gone", off, f"{off}/x"]
        n = 0
        for t in targets:
            for xml in (f"<iq type='result' id='res{n}' to='{t}'/>",
                        f"<iq type='error' id='err{n}' to='{t}'><ping xmlns='urn:xmpp:ping'/>{err}</iq>",
                        f"<message type='error' id='merr{n}' to='{t}'>{err}</message>",
                        f"<presence type='error' id='perr{n}' to='{t}'>{err}</presence>"):
                sc.send_raw(xml.replace("<iq ", f"<iq xmlns='{NS_CLIENT}' ", 1)
                            .replace("<message ", f"<message xmlns='{NS_CLIENT}' ", 1)
                            .replace("<presence ", f"<presence xmlns='{NS_CLIENT}' ", 1))
                n += 1
        # The same paths, with requests that are answered: their answers come
        # after anything the results/errors could have caused.
        for t in targets:
            resp = await sc.iq("get", "<query xmlns='urn:example:unknown'/>", to=t)
            assert resp.get("type") == "error", xs(resp)
        sent_r = f"<iq xmlns='{NS_CLIENT}' type='result' id='to-r' to='{r.jid}'/>"
        sent_e = f"<iq xmlns='{NS_CLIENT}' type='error' id='to-r-err' to='{r.jid}'>{err}</iq>"
        sc.send_raw(sent_r)
        sc.send_raw(sent_e)
        got = await sync(r, sc)
        check(got[sc], [], sc.jid, "no error for a result or an error")
        # error presence to the bare JID reaches the available resource (or not)
        iq, pres = "{jabber:client}iq", "{jabber:client}presence"
        check(got[r], [maybe(Pat(pres, {"type": "error", "from": sc.jid, "to": u}, [parse(err)])),
                       one(Pat(iq, {"type": "result", "id": "to-r", "from": sc.jid, "to": r.jid}, ())),
                       one(Pat(iq, {"type": "error", "id": "to-r-err", "from": sc.jid, "to": r.jid},
                               [parse(err)]))],
              r.jid, "results and errors to an online full JID are delivered")

    arun(body())
