"""Offline messages (RFC 6121 8.5.2.2.1 "O", XEP-0160): chat and normal
messages with a body for an account without an available non-negative
resource are stored, delivered in order with
<delay xmlns='urn:xmpp:delay' from='<domain>' stamp='YYYY-MM-DDThh:mm:ssZ'/>
when the user next sends initial presence with priority >= 0 (not on
bind, not with a negative priority), then deleted. Not stored: headline,
error, groupchat, chat-state-only messages (XEP-0085). Past
sm.max_offline (cluster.SM_LIMITS) <service-unavailable/>.

Stored messages are read from storage asynchronously after the initial
presence, so the tests wait for the expected number of them
(rfc6121.collect_offline) and then use the barrier; to show that nothing
else was stored, a last message sent to the same account works as a
marker: all stored messages come in order, so nothing may come before or
after it beyond the expected ones. Errors about storing (the limit) come
back asynchronously too, in the order the messages were sent."""

import time

from cluster import SM_LIMITS
from rfc6121 import (ERROR_PAYLOAD, NS_CHATSTATES, Bounce, accounts, check, close_and_wait,
                     collect_offline, maybe, next_stanza, offline_copy, one, online, own_reflection,
                     parse_stamp, send_msg, send_presence, sync, xs)

MESSAGE = "{jabber:client}message"


async def terminate(sc, to):
    """Send a groupchat to `to` (always bounced) and collect everything the
    sender gets up to its bounce: what earlier messages on the same path
    caused."""
    last = send_msg(sc, to, "groupchat", body="end")
    seen = []
    while True:
        x = await next_stanza(sc, 10, "the bounce of the terminating groupchat")
        if x.get("id") == last.get("id"):
            assert Bounce(sc, last).matches(x), xs(x)
            return seen
        seen.append(x)


def test_stored_in_order_with_delay_then_deleted(cluster, users, client, arun):
    u, s = accounts(users, ["off", "offs"], shards="different")

    async def body():
        sc = await online(client, s, "s", status="sender")
        await sync(sc)
        t0 = time.time()
        sent = [send_msg(sc, u, "chat", body="first", extra="<thread>th-1</thread>"),
                send_msg(sc, u, None, body="second", extra="<subject>no type</subject>"),
                send_msg(sc, u, "normal", body="third"),
                send_msg(sc, u, "chat", body="fourth", extra=f"<active xmlns='{NS_CHATSTATES}'/>")]
        assert len(sent) < SM_LIMITS["max_offline"]
        check(await terminate(sc, u), [], sc.jid, "stored messages are not bounced")
        t1 = time.time()

        r = await online(client, u, "r", pres=False)
        got = await sync(r)
        check(got[r], [], r.jid, "nothing on bind and roster get")
        send_presence(r, status="back")
        got = (await collect_offline(r, len(sent)))[r]
        check(got, [one(own_reflection(r, r))] +
              [one(offline_copy(sc, m, t0, t1, cluster.domain)) for m in sent],
              r.jid, "offline messages at initial presence")
        msgs = [x for x in got if x.tag == MESSAGE]
        assert [x.get("id") for x in msgs] == [m.get("id") for m in sent], "delivered in the order stored"
        stamps = [parse_stamp(x.find("{urn:xmpp:delay}delay").get("stamp")) for x in msgs]
        assert stamps == sorted(stamps), f"stamps go backwards: {stamps}"
        await close_and_wait(cluster, r)

        # Deleted: the next login gets only a message stored after that.
        t2 = time.time()
        mark = send_msg(sc, u, "chat", body="only this one")
        t3 = time.time()
        r2 = await online(client, u, "again", status="again")
        got = (await collect_offline(r2, 1))[r2]
        check(got, [one(own_reflection(r2, r2)), one(offline_copy(sc, mark, t2, t3, cluster.domain))],
              r2.jid, "delivered messages were deleted")
        check((await sync(sc))[sc], [], sc.jid, "no late error for any stored message")

    arun(body())


def test_not_delivered_on_bind_or_negative_priority(cluster, users, client, arun):
    u, s = accounts(users, ["offn", "offns"])

    async def body():
        sc = await online(client, s, "s", status="sender")
        await sync(sc)
        t0 = time.time()
        m = send_msg(sc, u, "chat", body="waiting")
        check(await terminate(sc, u), [], sc.jid, "stored")
        t1 = time.time()
        rn = await online(client, u, "neg", roster_get_first=False, pres=False)
        got = await sync(rn)
        check(got[rn], [], rn.jid, "not on bind")
        send_presence(rn, prio=-1, status="invisible-ish")
        got = await sync(rn)
        check(got[rn], [one(own_reflection(rn, rn))], rn.jid, "not with a negative priority")
        r0 = await online(client, u, "zero", prio=0, status="visible")
        got = await collect_offline(r0, 1, also=[rn])
        check(got[r0], [one(own_reflection(r0, r0)), one(offline_copy(sc, m, t0, t1, cluster.domain)),
                        maybe(own_reflection(rn, r0))], r0.jid, "at initial presence with priority 0")
        check(got[rn], [one(own_reflection(r0, rn))], rn.jid, "the negative resource gets none")

    arun(body())


def test_kinds_that_are_not_stored(cluster, users, client, arun):
    """headline and error: dropped; groupchat: bounced; chat-state-only
    (no body): not stored (dropped, or bounced with
    <service-unavailable/>). The chat message with a body sent last is
    the only one stored."""
    u, s = accounts(users, ["offk", "offks"], shards="different")

    async def body():
        sc = await online(client, s, "s", status="sender")
        await sync(sc)
        t0 = time.time()
        send_msg(sc, u, "headline", body="news")
        send_msg(sc, u, "error", body="oops", extra=ERROR_PAYLOAD)
        gc = send_msg(sc, u, "groupchat", body="room talk")
        cs1 = send_msg(sc, u, "chat", body=None, extra=f"<active xmlns='{NS_CHATSTATES}'/>")
        cs2 = send_msg(sc, u, None, body=None, extra=f"<composing xmlns='{NS_CHATSTATES}'/>")
        keep = send_msg(sc, u, "chat", body="this one is kept")
        check(await terminate(sc, u), [one(Bounce(sc, gc)), maybe(Bounce(sc, cs1)), maybe(Bounce(sc, cs2))],
              sc.jid, "only groupchat (and maybe chat states) bounced")
        t1 = time.time()
        r = await online(client, u, "r", status="here")
        got = (await collect_offline(r, 1))[r]
        check(got, [one(own_reflection(r, r)), one(offline_copy(sc, keep, t0, t1, cluster.domain))],
              r.jid, "only the chat message with a body was stored")
        check((await sync(sc))[sc], [], sc.jid, "no late error")

    arun(body())


def test_offline_limit(cluster, users, client, arun):
    limit = SM_LIMITS["max_offline"]
    u, s = accounts(users, ["offl", "offls"], shards="different")

    async def body():
        sc = await online(client, s, "s", status="sender")
        await sync(sc)
        t0 = time.time()
        kept = [send_msg(sc, u, "chat", body=f"kept {i}") for i in range(limit)]
        over = [send_msg(sc, u, "chat" if i % 2 else None, body=f"over {i}") for i in range(2)]
        t1 = time.time()
        seen = [await next_stanza(sc, 10, f"errors for messages beyond sm.max_offline={limit}")
                for _ in over]
        check(seen, [one(Bounce(sc, m)) for m in over], sc.jid,
              f"beyond sm.max_offline={limit}: service-unavailable, in order, none for the first {limit}")
        assert [x.get("id") for x in seen] == [m.get("id") for m in over]
        r = await online(client, u, "r", status="here")
        got = (await collect_offline(r, limit))[r]
        check(got, [one(own_reflection(r, r))] +
              [one(offline_copy(sc, m, t0, t1, cluster.domain)) for m in kept],
              r.jid, "the stored ones, in order")
        assert [x.get("id") for x in got if x.tag == MESSAGE] == [m.get("id") for m in kept]
        await close_and_wait(cluster, r)
        t2 = time.time()
        again = send_msg(sc, u, "chat", body="room again after delivery")
        t3 = time.time()
        r = await online(client, u, "r2", status="here")
        got = (await collect_offline(r, 1))[r]
        check(got, [one(own_reflection(r, r)), one(offline_copy(sc, again, t2, t3, cluster.domain))], r.jid,
              "delivered messages no longer count")
        check((await sync(sc))[sc], [], sc.jid, "no error for the message after delivery")

    arun(body())


def test_messages_to_full_jid_without_resources(cluster, users, client, arun):
    """Table 1, no active resources, full JID: chat O/E (stored, then
    delivered with a delay, or bounced); normal, headline, groupchat S/E
    (never stored). A last chat message to the bare JID marks the end of
    what was stored."""
    u, s = accounts(users, ["offf", "offfs"], shards="different")

    async def body():
        sc = await online(client, s, "s", status="sender")
        await sync(sc)
        t0 = time.time()
        chat = send_msg(sc, f"{u}/phone", "chat", body="to a resource")
        others = [send_msg(sc, f"{u}/phone", t, body=f"{t} to a resource")
                  for t in (None, "headline", "groupchat")]
        seen = await terminate(sc, u)
        check(seen, [maybe(Bounce(sc, chat))] + [maybe(Bounce(sc, m)) for m in others], sc.jid,
              "full JID without resources")
        chat_bounced = any(Bounce(sc, chat).matches(x) for x in seen)
        mark = send_msg(sc, u, "chat", body="marker")
        t1 = time.time()
        r = await online(client, u, "laptop", status="here")
        got = (await collect_offline(r, 1 if chat_bounced else 2))[r]
        exp = [one(own_reflection(r, r)), one(offline_copy(sc, mark, t0, t1, cluster.domain))]
        if not chat_bounced:
            exp.append(one(offline_copy(sc, chat, t0, t1, cluster.domain)))
        check(got, exp, r.jid, "stored: the chat message unless it was bounced, the marker; nothing else")

    arun(body())
