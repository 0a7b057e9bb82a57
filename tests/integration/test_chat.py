"""Messages between users across processes: sharding, ordering, stamping."""

import asyncio
import re

from clients import NS_CLIENT, q, stanza_error
from cluster import C2S_NODES, SM_SHARDS, shard_of

N_MESSAGES = 200


async def login_tracked(cluster, client, bare, resource, avoid_c2s=None, tries=20):
    """Log bare/resource<k> in until its session is on a c2s other than
    avoid_c2s (reconnecting as needed, at most `tries` times). Returns
    (client, c2s node, sm node) as read from the processes' logs."""
    for attempt in range(tries):
        since = cluster.log_offsets()
        c = client(f"{bare}/{resource}{attempt}")
        await c.login()
        assert c.jid == f"{bare}/{resource}{attempt}", f"bound {c.jid}, asked for {resource}{attempt}"
        c2s, m = await cluster.wait_log(
            C2S_NODES, r"session bound jid=%s conn=(\d+)\b" % re.escape(c.jid), since)
        conn = m.group(1)
        sm, m = await cluster.wait_log(
            SM_SHARDS, r"session started jid=%s c2s=(\S+) conn=(\d+)\b" % re.escape(c.jid), since)
        assert (m.group(1), m.group(2)) == (c2s, conn), \
            f"{sm} recorded {c.jid} on {m.group(1)} conn {m.group(2)}, but {c2s} bound it as conn {conn}"
        if c2s != avoid_c2s:
            return c, c2s, sm
        await c.close()
        await c.wait_disconnected()
    raise AssertionError(f"{bare} landed on {avoid_c2s} in all {tries} attempts")


def pick_pair(users):
    """Two new accounts whose slots fall on different sm shards."""
    alice = users.unique("alice")
    while True:
        bob = users.unique("bob")
        if shard_of(bob) != shard_of(alice):
            break
    users.cluster.add_user(alice, "alice-pw")
    users.cluster.add_user(bob, "bob-pw")
    return alice, bob


def check_chat(msg, src, dst, body, mid):
    assert msg["type"] == "chat", f"type {msg['type']!r} in {msg}"
    assert str(msg["from"]) == src, f"from {msg['from']!s}, want {src}"
    assert str(msg["to"]) == dst, f"to {msg['to']!s}, want {dst}"
    assert msg["body"] == body, f"body {msg['body']!r}, want {body!r}"
    assert msg["id"] == mid, f"id {msg['id']!r}, want {mid!r}"


async def collect(c, n, timeout):
    return [await c.next_message(timeout) for _ in range(n)]


def test_two_shards_two_c2s_200_messages_each_way(cluster, users, client, arun):
    alice, bob = pick_pair(users)

    async def body():
        a, a_c2s, a_sm = await login_tracked(cluster, lambda j: client(j, "alice-pw"), alice, "desk")
        b, b_c2s, b_sm = await login_tracked(cluster, lambda j: client(j, "bob-pw"), bob, "phone",
                                             avoid_c2s=a_c2s)
        assert a_sm == shard_of(alice) and b_sm == shard_of(bob), \
            f"sessions on {a_sm}/{b_sm}, slots say {shard_of(alice)}/{shard_of(bob)}"
        assert a_sm != b_sm and a_c2s != b_c2s
        assert a.tls_version in ("TLSv1.2", "TLSv1.3") and b.tls_version in ("TLSv1.2", "TLSv1.3")

        async def send_all(src, dst, tag):
            for i in range(N_MESSAGES):
                src.send_message(dst.jid, f"{tag} message {i}", mid=f"{tag}-{i}")
                if i % 10 == 9:
                    await asyncio.sleep(0)

        got_b, got_a, _, _ = await asyncio.gather(
            collect(b, N_MESSAGES, 60), collect(a, N_MESSAGES, 60),
            send_all(a, b, "a2b"), send_all(b, a, "b2a"))
        for i, m in enumerate(got_b):
            check_chat(m, a.jid, b.jid, f"a2b message {i}", f"a2b-{i}")
        for i, m in enumerate(got_a):
            check_chat(m, b.jid, a.jid, f"b2a message {i}", f"b2a-{i}")
        # Nothing more than the 200: the next message each side gets is the end mark.
        a.send_message(b.jid, "end", mid="a2b-end")
        b.send_message(a.jid, "end", mid="b2a-end")
        check_chat(await b.next_message(), a.jid, b.jid, "end", "a2b-end")
        check_chat(await a.next_message(), b.jid, a.jid, "end", "b2a-end")

    arun(body(), timeout=240)


def test_forged_from_is_replaced(cluster, users, client, arun):
    alice, bob = users.add("forger"), users.add("victim")

    async def body():
        a = await client(alice).login()
        b = await client(bob).login()
        a.send_raw(f"<message xmlns='jabber:client' to='{b.jid}' from='admin@{cluster.domain}/x' "
                   f"type='chat' id='forged1'><body>trust me</body></message>")
        a.send_raw(f"<message xmlns='jabber:client' to='{b.jid}' from='{b.jid}' "
                   f"type='chat' id='forged2'><body>from yourself</body></message>")
        check_chat(await b.next_message(), a.jid, b.jid, "trust me", "forged1")
        check_chat(await b.next_message(), a.jid, b.jid, "from yourself", "forged2")

    arun(body())


async def expect_service_unavailable(sender, to, mid):
    sender.send_raw(f"<message xmlns='jabber:client' to='{to}' id='{mid}'>"
                    f"<body>anyone there?</body></message>")
    m = await sender.next_message()
    assert m["type"] == "error", f"expected an error, got {m}"
    assert m["id"] == mid and str(m["from"]) == to and str(m["to"]) == sender.jid, str(m)
    assert stanza_error(m.xml) == ("cancel", "service-unavailable"), str(m)


def test_message_to_offline_full_jid(cluster, users, client, arun):
    alice, carol = users.add("sender"), users.add("offline")

    async def body():
        a = await client(alice).login()
        await expect_service_unavailable(a, f"{carol}/gone", "off1")
        await expect_service_unavailable(a, f"nobody-here@{cluster.domain}/x", "off2")

    arun(body())


def test_message_to_unknown_resource_of_online_user(cluster, users, client, arun):
    alice, bob = users.add("sender"), users.add("online")

    async def body():
        a = await client(alice).login()
        b = await client(f"{bob}/here").login()
        await expect_service_unavailable(a, f"{bob}/elsewhere", "res1")
        # bob got nothing of it: his next message is the one sent after.
        a.send_message(b.jid, "hello", mid="res2")
        check_chat(await b.next_message(), a.jid, b.jid, "hello", "res2")
        assert b.messages.empty()

    arun(body())


def test_message_body_escaping_survives(cluster, users, client, arun):
    alice, bob = users.add("esc"), users.add("esc")
    text = "<b>&amp; \"quotes\" 'apos' ünïcödé 😀 ]]>"

    async def body():
        a = await client(alice).login()
        b = await client(bob).login()
        a.send_message(b.jid, text, mid="esc1")
        m = await b.next_message()
        check_chat(m, a.jid, b.jid, text, "esc1")
        assert m.xml.find(q(NS_CLIENT, "body")).text == text

    arun(body())


def test_chat_states_and_xhtml_im_delivered_intact(cluster, users, client, arun):
    """XEP-0085 chat states (with a body and standalone) and XEP-0071
    XHTML-IM reach an online recipient on another shard exactly as sent:
    same elements, attributes, namespaces and text."""
    from rfc6121 import NS_CHATSTATES, accounts, online, send_msg, sync, xs
    u, s = accounts(users, ["xhu", "xhs"], shards="different")
    xhtml = ("<html xmlns='http://jabber.org/protocol/xhtml-im'><body xmlns='http://www.w3.org/1999/xhtml'>"
             "<p style='font-weight:bold'>Hi &amp; <em>there</em><br/>2nd line</p></body></html>")

    async def body():
        rc = await online(client, u, "r")
        sc = await online(client, s, "s")
        await sync(rc, sc)
        sent = [send_msg(sc, u, "chat", body="Hi &amp; there", extra=xhtml + f"<active xmlns='{NS_CHATSTATES}'/>"),
                send_msg(sc, u, "chat", body=None, extra=f"<composing xmlns='{NS_CHATSTATES}'/>"),
                send_msg(sc, u, "chat", body=None, extra=f"<paused xmlns='{NS_CHATSTATES}'/>")]
        got = (await sync(rc, sc))[rc]
        assert len(got) == 3, [xs(x) for x in got]
        for have, want in zip(got, sent):
            assert have.get("from") == sc.jid and have.get("id") == want.get("id")
            assert [xs(c) for c in have] == [xs(c) for c in want], "payload changed on the way"

    arun(body())
