"""A second, independent client library (Debian's python3-aioxmpp 0.13)
against the cluster, so the server is not tuned to slixmpp: login over
STARTTLS (the cluster certificate trusted, hostname checked), the roster
(with versioning, as aioxmpp uses it), a mutual subscription and presence
exchange with a slixmpp contact, messages both ways, then a second login
that gets the roster from its cached version."""

import asyncio

import aioxmpp
import aioxmpp.connector
import aioxmpp.dispatcher
import aioxmpp.im  # noqa: F401  (registers services aioxmpp expects)
import aioxmpp.security_layer

from conftest import PASSWORD
from rfc6121 import (Exp, accounts, assert_roster, check, el, item, next_stanza, one, online,
                     presence, push, roster, send_sub, sync, wait_for_stanzas, xs)


def security_layer(cluster, password):
    def ctx_factory():
        ctx = aioxmpp.security_layer.default_ssl_context()
        ctx.load_verify_locations(str(cluster.cert))
        return ctx
    return aioxmpp.make_security_layer(password, ssl_context_factory=ctx_factory)


def make_client(cluster, jid, password, resource):
    return aioxmpp.Client(
        aioxmpp.JID.fromstr(f"{jid}/{resource}"), security_layer(cluster, password),
        override_peer=[("127.0.0.1", cluster.port, aioxmpp.connector.STARTTLSConnector())])


async def until(fut_or_cond, timeout=10.0, what="an event"):
    try:
        return await asyncio.wait_for(fut_or_cond, timeout)
    except asyncio.TimeoutError:
        raise AssertionError(f"aioxmpp: timed out after {timeout}s waiting for {what}") from None


def test_aioxmpp_login_roster_presence_messages(cluster, users, client, arun):
    a, s = accounts(users, ["aiox", "aioxs"], shards="different")

    async def body():
        loop = asyncio.get_running_loop()
        sc = await online(client, s, "slix", status="slixmpp here")
        await sync(sc)

        ac = make_client(cluster, a, PASSWORD, "aio")
        rc = ac.summon(aioxmpp.RosterClient)
        pc = ac.summon(aioxmpp.PresenceClient)
        md = ac.summon(aioxmpp.dispatcher.SimpleMessageDispatcher)
        got_roster = loop.create_future()
        rc.on_initial_roster_received.connect(lambda: got_roster.done() or got_roster.set_result(True))
        subscribed = loop.create_future()
        rc.on_subscribed.connect(lambda st: subscribed.done() or subscribed.set_result(st))
        requests = asyncio.Queue()
        rc.on_subscribe.connect(lambda st: requests.put_nowait(st))
        both = loop.create_future()
        rc.on_entry_subscription_state_changed.connect(
            lambda it: it.subscription == "both" and not both.done() and both.set_result(it))
        available = asyncio.Queue()
        pc.on_available.connect(lambda jid, st: available.put_nowait((jid, st)))
        messages = asyncio.Queue()
        md.register_callback(aioxmpp.MessageType.CHAT, None, lambda m: messages.put_nowait(m))
        ps = ac.summon(aioxmpp.PresenceServer)

        async with ac.connected():
            await until(got_roster, what="the initial roster")
            a_full = str(ac.local_jid)
            assert a_full == f"{a}/aio", a_full
            assert rc.items == {}, rc.items
            ps.set_presence(aioxmpp.PresenceState(True, aioxmpp.PresenceShow.CHAT), "aioxmpp here")
            jid, pres = await until(available.get(), what="the own presence")
            assert str(jid) == a_full, jid

            # a (aioxmpp) asks s (slixmpp); s approves.
            rc.subscribe(aioxmpp.JID.fromstr(s))
            x = await next_stanza(sc, 10, "the request from the aioxmpp user")
            assert presence(a, s, type="subscribe", children=None).matches(x), xs(x)
            send_sub(sc, a, "subscribed")
            st = await until(subscribed, what="subscribed")
            assert str(st.from_) == s, st
            jid, pres = await until(available.get(), what="the contact's presence")
            assert str(jid) == sc.jid and pres.status.any() == "slixmpp here", (jid, pres.status)
            assert rc.items[aioxmpp.JID.fromstr(s)].subscription == "to"

            # s asks a; a approves; s gets a's presence.
            send_sub(sc, a, "subscribe")
            req = await until(requests.get(), what="the request from the slixmpp user")
            assert str(req.from_) == s
            rc.approve(aioxmpp.JID.fromstr(s))
            a_pres = presence(a_full, s,
                              children=[el("<show>chat</show>"), el("<status>aioxmpp here</status>")])
            got = await wait_for_stanzas(sc, [a_pres, presence(a, s, type="subscribed", children=None),
                                              push(sc.jid, item(a, "both"))])
            check(got[sc], [one(push(sc.jid, item(a, "from"))),                      # s approved
                            one(push(sc.jid, item(a, "from", ask="subscribe"))),     # s asked
                            one(presence(a, s, type="subscribed", children=None)),
                            one(push(sc.jid, item(a, "both"))), Exp(a_pres, 1, 2)],
                  sc.jid, "after the aioxmpp user approved")
            await until(both, what="the roster push with subscription='both'")
            assert rc.items[aioxmpp.JID.fromstr(s)].subscription == "both"
            assert_roster(await roster(sc), [item(a, "both")], s)

            # messages both ways
            msg = aioxmpp.Message(type_=aioxmpp.MessageType.CHAT, to=aioxmpp.JID.fromstr(s))
            msg.body[None] = "hello from aioxmpp"
            await ac.send(msg)
            x = await next_stanza(sc, 10, "the message from aioxmpp")
            assert x.tag.endswith("}message") and x.get("from") == a_full and x.get("to") == s, xs(x)
            assert x.find("{jabber:client}body").text == "hello from aioxmpp", xs(x)
            sc.send_message(a_full, "hello from slixmpp", mid="slix-1")
            m = await until(messages.get(), what="the message from slixmpp")
            assert str(m.from_) == sc.jid and m.body.any() == "hello from slixmpp" and m.id_ == "slix-1", m
            ver = rc.version
            assert ver, "the roster version aioxmpp keeps after pushes"

        # s sees a go offline (after, perhaps, a second copy of a's presence)
        x = await next_stanza(sc, 10, "the unavailable presence of the aioxmpp user")
        if a_pres.matches(x):
            x = await next_stanza(sc, 10, "the unavailable presence of the aioxmpp user")
        assert presence(a_full, s, type="unavailable", children=()).matches(x), xs(x)

        # Log in again with the cached roster: aioxmpp sends its version.
        ac2 = make_client(cluster, a, PASSWORD, "aio2")
        rc2 = ac2.summon(aioxmpp.RosterClient)
        rc2.import_from_json(rc.export_as_json())
        got_roster2 = asyncio.get_running_loop().create_future()
        rc2.on_initial_roster_received.connect(lambda: got_roster2.done() or got_roster2.set_result(True))
        async with ac2.connected():
            await until(got_roster2, what="the roster of the second login")
            assert set(map(str, rc2.items)) == {s}, rc2.items
            assert rc2.items[aioxmpp.JID.fromstr(s)].subscription == "both"
            assert rc2.version == ver, (rc2.version, ver)

    arun(body(), timeout=60)
