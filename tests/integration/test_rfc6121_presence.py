"""RFC 6121 section 4: presence broadcast, probes and their answers,
updates, unavailable presence (graceful, on a clean close without it, on
a killed connection), directed presence, presence to the user's own bare
JID, presence errors.

Tolerances (the RFC leaves them open): a probe answer may be addressed to
the user's bare JID (the probe comes from it, 4.3.1) or to the new
resource; because of that, the user's other available resources may get
copies of the answers; a new resource may get the presence of the user's
other resources; own presence comes back with 'to' absent, bare or full.
"""

import time

from rfc6121 import (NS_CLIENT, Account, Model, accounts, assert_result, bare, broadcast_to_contact,
                     build_state, check, close_and_wait, delay_pat, el, maybe, next_stanza, one,
                     online, own_reflection, presence, probe_answer, roster_set, send_presence,
                     stamp_between, sync, wait_for_stanzas, xs)

EXT = "<x xmlns='urn:example:presence-ext'><detail>42</detail></x>"


async def contact_pair(u_clients, contact_clients, contact_bare, state, u_available=None):
    """Build u's state toward a contact (Model, every step checked). The
    first of u_clients acts; all of them requested the roster; the
    available ones are u_available (default: all)."""
    m = Model(Account(bare(u_clients[0].jid), u_clients, available=u_available),
              Account(contact_bare, contact_clients))
    await build_state(m, state)
    return m


def test_initial_presence_broadcast_and_probe_answers(cluster, users, client, arun):
    u, b, f, t, n, w = accounts(users, ["ip", "ipboth", "ipfrom", "ipto", "ipnone", "iproster"])

    async def body():
        u1 = await online(client, u, "one", status="u1 here", prio=1)
        b1 = await online(client, b, "b1", status="b one", prio=1)
        b2 = await online(client, b, "b2", show="away", status="b two")
        fc = await online(client, f, "f", status="f here")
        tc = await online(client, t, "t", status="t here")
        nc = await online(client, n, "n", status="n here")
        wc = await online(client, w, "w", status="w here")
        everyone = [u1, b1, b2, fc, tc, nc, wc]
        await sync(*everyone)
        await contact_pair([u1], [b1, b2], b, "Both")
        await contact_pair([u1], [fc], f, "From")
        await contact_pair([u1], [tc], t, "To")
        await contact_pair([u1], [nc], n, "None+PO")
        assert_result(await roster_set(u1, w, name="just an item"))
        await sync(*everyone)

        u2 = await online(client, u, "two", pres=False)
        sent = send_presence(u2, show="chat", status="u2 here", prio=3, extra=EXT)
        got = await sync(u2, *everyone)
        answers = [probe_answer(b1, u2), probe_answer(b2, u2), probe_answer(tc, u2)]
        check(got[u2], [one(own_reflection(u2, u2))] + [one(a) for a in answers] +
              [maybe(own_reflection(u1, u2))], u2.jid, "initial presence of a second resource")
        check(got[u1], [one(own_reflection(u2, u1))] + [maybe(a) for a in answers], u1.jid,
              "u's other resource")
        for c in (b1, b2):
            check(got[c], [one(broadcast_to_contact(u2, b, sent))], c.jid, "contact with 'both'")
        check(got[fc], [one(broadcast_to_contact(u2, f, sent))], fc.jid, "contact with 'from'")
        for c, why in ((tc, "'to'"), (nc, "none + pending"), (wc, "none")):
            check(got[c], [], c.jid, f"contact with {why}: no presence")

    arun(body(), timeout=60)


def test_probe_answers_for_offline_contacts(cluster, users, client, arun):
    """4.3.2 rule 3: an offline contact that has been online: its last
    unavailable presence from the bare JID with a <delay/> stamp of when it
    went offline (graceful: with its <status/>; connection killed: the
    server-made one, no children). A contact never available: no answer
    (the RFC allows an unavailable without <delay/>, or nothing: either is
    accepted; the answer may come after the others, as the contacts'
    states are read from storage)."""
    u, t1, t2, t3 = accounts(users, ["po", "pograce", "pokill", "ponever"])

    async def body():
        u1 = await online(client, u, "one", status="u here")
        c1 = await online(client, t1, "t1", status="t1 here")
        c2 = await online(client, t2, "t2", status="t2 here")
        c3 = await online(client, t3, "t3", pres=False)
        await sync(u1, c1, c2, c3)
        await contact_pair([u1], [c1], t1, "To")
        await contact_pair([u1], [c2], t2, "To")
        m3 = Model(Account(u, [u1]), Account(t3, [c3], available=set()))
        await build_state(m3, "To")

        ta = time.time()
        gone = send_presence(c1, type="unavailable", status="gone fishing")
        got = await sync(u1, c1)
        check(got[u1], [one(broadcast_to_contact(c1, u, gone, type="unavailable"))], u1.jid,
              "graceful unavailable of a contact")
        check(got[c1], [one(own_reflection(c1, c1, gone, type="unavailable"))], c1.jid,
              "own unavailable comes back (4.5.2)")
        tb = time.time()
        await close_and_wait(cluster, c1)

        tc_ = time.time()
        c2.abort()
        x = await next_stanza(u1, 10, "the unavailable of the killed contact")
        td = time.time()
        assert presence(c2.jid, u, type="unavailable", children=()).matches(x), xs(x)
        await close_and_wait(cluster, c3)
        await close_and_wait(cluster, u1)

        u2 = await online(client, u, "two", status="u again")
        dom = {None, cluster.domain}
        a1 = presence(t1, {u, u2.jid}, type="unavailable",
                      children=[el("<status>gone fishing</status>"), delay_pat(stamp_between(ta, tb), dom)],
                      label="last unavailable of t1 (graceful) with delay")
        a2 = presence(t2, {u, u2.jid}, type="unavailable",
                      children=[delay_pat(stamp_between(tc_, td), dom)],
                      label="last unavailable of t2 (killed) with delay")
        # The contacts are offline: their state is read from storage before
        # the probes are answered, so wait for the answers, not a barrier.
        got = await wait_for_stanzas(u2, [a1, a2])
        check(got[u2], [one(own_reflection(u2, u2)), one(a1), one(a2),
                        maybe(presence(t3, {u, u2.jid}, type="unavailable", children=(),
                                       label="(optional) unavailable of t3 (never available)"))],
              u2.jid, "probe answers for offline contacts")

    arun(body(), timeout=60)


def test_updates_unavailable_and_new_presence_session(cluster, users, client, arun):
    """4.4 updates go to 'from'/'both' contacts and own resources; 4.5
    unavailable likewise, the originating resource included; presence
    after unavailable starts a new session (4.5.2 Implementation Note); a
    clean close without unavailable makes the server send it."""
    u, b, f, t = accounts(users, ["up", "upboth", "upfrom", "upto"])

    async def body():
        u1 = await online(client, u, "one", status="one")
        u2 = await online(client, u, "two", status="two", prio=2)
        bc = await online(client, b, "b", status="b here")
        fc = await online(client, f, "f", status="f here")
        tc = await online(client, t, "t", status="t here")
        everyone = [u1, u2, bc, fc, tc]
        await sync(*everyone)
        await contact_pair([u1, u2], [bc], b, "Both")
        await contact_pair([u1, u2], [fc], f, "From")
        await contact_pair([u1, u2], [tc], t, "To")
        await sync(*everyone)

        async def expect_broadcast(sent, type=None, what=""):
            got = await sync(*everyone)
            for c in (u1, u2):
                check(got[c], [one(own_reflection(u1, c, sent, type=type))], c.jid, what)
            check(got[bc], [one(broadcast_to_contact(u1, b, sent, type=type))], bc.jid, what)
            check(got[fc], [one(broadcast_to_contact(u1, f, sent, type=type))], fc.jid, what)
            check(got[tc], [], tc.jid, what + " ('to' contact: nothing)")

        await expect_broadcast(send_presence(u1, show="away", status="brb", extra=EXT), what="update")
        await expect_broadcast(send_presence(u1, type="unavailable", status="bye"), "unavailable",
                               what="unavailable")

        again = send_presence(u1, status="back")
        got = await sync(*everyone)
        answers = [probe_answer(bc, u1), probe_answer(tc, u1)]
        check(got[u1], [one(own_reflection(u1, u1, again))] + [maybe(a) for a in answers] +
              [maybe(own_reflection(u2, u1))], u1.jid, "a new presence session (probes optional)")
        check(got[u2], [one(own_reflection(u1, u2, again))] + [maybe(a) for a in answers], u2.jid,
              "new session, other resource")
        check(got[bc], [one(broadcast_to_contact(u1, b, again))], bc.jid, "new session")
        check(got[fc], [one(broadcast_to_contact(u1, f, again))], fc.jid, "new session")
        check(got[tc], [], tc.jid, "new session ('to' contact)")

        await u1.close()            # </stream:stream>, no unavailable
        for c, to in ((u2, {None, u, u2.jid}), (bc, b), (fc, f)):
            x = await next_stanza(c, 10, "the unavailable of a closed session")
            assert presence(u1.jid, to, type="unavailable", children=()).matches(x), f"{c.jid}: {xs(x)}"
        got = await sync(u2, bc, fc, tc)
        for c in (u2, bc, fc, tc):
            check(got[c], [], c.jid, "after the unavailable of the closed session")

    arun(body(), timeout=60)


def test_directed_presence_and_killed_connection(cluster, users, client, arun):
    """4.6: directed presence reaches the addressee as sent (bare or full
    'to'), does not put it into later broadcasts; when the connection of
    the sending resource is killed (no </stream:stream>), every entity
    that got directed presence (and no directed unavailable since) and
    every 'from' contact receives unavailable, as does the user's other
    resource."""
    u, f, n, x, m = accounts(users, ["dp", "dpfrom", "dpbare", "dpfull", "dpgone"])

    async def body():
        u1 = await online(client, u, "one", status="u one")
        u2 = await online(client, u, "two", status="u two")
        fc = await online(client, f, "f", status="f here")
        nc = await online(client, n, "n", status="n here")
        xc = await online(client, x, "x", status="x here")
        mc = await online(client, m, "m", status="m here")
        everyone = [u1, u2, fc, nc, xc, mc]
        await sync(*everyone)
        await contact_pair([u1, u2], [fc], f, "From")
        await sync(*everyone)

        d1 = send_presence(u1, to=n, status="hi n")
        d2 = send_presence(u1, to=xc.jid, show="chat", status="hi x", extra=EXT)
        d3 = send_presence(u1, to=m, status="hi m")
        d4 = send_presence(u1, to=m, type="unavailable", status="bye m")
        got = await sync(*everyone)
        check(got[nc], [one(presence(u1.jid, n, children=list(d1), id=d1.get("id")))], nc.jid, "directed")
        check(got[xc], [one(presence(u1.jid, xc.jid, children=list(d2), id=d2.get("id")))], xc.jid,
              "directed to a full JID")
        check(got[mc], [one(presence(u1.jid, m, children=list(d3), id=d3.get("id"))),
                        one(presence(u1.jid, m, type="unavailable", children=list(d4), id=d4.get("id")))],
              mc.jid, "directed, then directed unavailable")
        for c in (u1, u2, fc):
            check(got[c], [], c.jid, "directed presence goes nowhere else")

        upd = send_presence(u1, show="dnd", status="busy")
        got = await sync(*everyone)
        check(got[fc], [one(broadcast_to_contact(u1, f, upd))], fc.jid, "broadcast")
        for c in (u1, u2):
            check(got[c], [one(own_reflection(u1, c, upd))], c.jid, "broadcast")
        for c in (nc, xc, mc):
            check(got[c], [], c.jid, "directed presence does not add to broadcasts (4.6.3 #2)")

        u1.abort()
        for c, to in ((nc, n), (xc, xc.jid), (fc, f), (u2, {None, u, u2.jid})):
            y = await next_stanza(c, 10, "unavailable after the killed connection")
            assert presence(u1.jid, to, type="unavailable", children=()).matches(y), f"{c.jid}: {xs(y)}"
        got = await sync(u2, fc, nc, xc, mc)
        for c in (u2, fc, nc, xc, mc):
            check(got[c], [], c.jid, "nothing more after the killed connection")

    arun(body(), timeout=60)


def test_directed_presence_without_presence_session(cluster, users, client, arun):
    """4.6.3 #3: directed presence from a connected but not available
    resource is tracked like #2: unavailable follows when the connection
    dies; 'from' contacts hear nothing (the resource was never
    available)."""
    u, f, n = accounts(users, ["dq", "dqfrom", "dqn"])

    async def body():
        u1 = await online(client, u, "avail", status="here")
        fc = await online(client, f, "f", status="f here")
        nc = await online(client, n, "n", status="n here")
        await sync(u1, fc, nc)
        await contact_pair([u1], [fc], f, "From")
        u3 = await online(client, u, "quiet", pres=False)
        d = send_presence(u3, to=n, status="psst")
        got = await sync(u1, u3, fc, nc)
        check(got[nc], [one(presence(u3.jid, n, children=list(d), id=d.get("id")))], nc.jid, "directed")
        for c in (u1, u3, fc):
            check(got[c], [], c.jid, "nothing else")
        u3.abort()
        y = await next_stanza(nc, 10, "unavailable after the killed connection")
        assert presence(u3.jid, n, type="unavailable", children=()).matches(y), xs(y)
        got = await sync(u1, fc, nc)
        for c in (u1, fc, nc):
            check(got[c], [], c.jid, "no other unavailable: the resource was never available")

    arun(body(), timeout=60)


def test_presence_to_own_bare_jid(cluster, users, client, arun):
    """Directed presence to the user's own bare JID is delivered like any
    presence to a bare JID (8.5.2.1.2): to every available resource of the
    account, the sender included, 'to' unchanged; contacts get nothing."""
    u, f = accounts(users, ["self", "selff"])

    async def body():
        u1 = await online(client, u, "one", status="one")
        u2 = await online(client, u, "two", status="two")
        u3 = await online(client, u, "three", pres=False)
        fc = await online(client, f, "f", status="f here")
        await sync(u1, u2, u3, fc)
        await contact_pair([u1, u2, u3], [fc], f, "From", u_available={u1, u2})
        d = send_presence(u1, to=u, status="note to self")
        got = await sync(u1, u2, u3, fc)
        for c in (u1, u2):
            check(got[c], [one(presence(u1.jid, u, children=list(d), id=d.get("id")))], c.jid,
                  "presence to the own bare JID")
        check(got[u3], [], u3.jid, "not available: nothing")
        check(got[fc], [], fc.jid, "contacts get nothing")

    arun(body())


def test_presence_errors_and_client_probes(cluster, users, client, arun):
    """4.7.1: a presence type outside the schema gets <bad-request/>
    (modify) and is not delivered. 8.5.1: available presence to an
    account that does not exist is silently ignored; a probe to it is
    ignored or answered with unsubscribed. 4.3: a probe sent by a client
    is processed (answered with the contact's presence when subscribed,
    unsubscribed or nothing otherwise), never answered with an error."""
    u, k, s = accounts(users, ["perr", "perrk", "perrs"])
    ghost = f"ghost-{time.monotonic_ns()}@{cluster.domain}"

    async def body():
        u1 = await online(client, u, "one", status="u here")
        kc = await online(client, k, "k", status="k here")
        sc = await online(client, s, "s", status="s here")
        await sync(u1, kc, sc)
        await contact_pair([u1], [kc], k, "To")

        u1.send_raw(f"<presence xmlns='{NS_CLIENT}' to='{k}' type='available' id='bad1'/>")
        got = await sync(u1, kc)
        assert len(got[u1]) == 1, [xs(y) for y in got[u1]]
        e = got[u1][0]
        from rfc6121 import error_pat
        assert presence({k, cluster.domain}, u1.jid, type="error", id="bad1",
                        children=None).matches(e), xs(e)
        assert error_pat("modify", "bad-request").matches(e[-1]), xs(e)
        check(got[kc], [], kc.jid, "an invalid presence is not delivered")

        u1.send_raw(f"<presence xmlns='{NS_CLIENT}' to='{ghost}' id='g1'>"
                    f"<status>hello?</status></presence>")
        u1.send_raw(f"<presence xmlns='{NS_CLIENT}' to='{ghost}' type='probe' id='g2'/>")
        r = await u1.iq("get", "<query xmlns='urn:example:none'/>", to=ghost)   # same path, answered
        assert r.get("type") == "error", xs(r)
        got = await sync(u1)
        check(got[u1], [maybe(presence(ghost, {u, u1.jid}, type="unsubscribed", id="g2", children=()))],
              u1.jid, "presence to a nonexistent account")

        u1.send_raw(f"<presence xmlns='{NS_CLIENT}' to='{k}' type='probe' id='p1'/>")
        u1.send_raw(f"<presence xmlns='{NS_CLIENT}' to='{s}' type='probe' id='p2'/>")
        got = await sync(u1, kc, sc)
        check(got[u1], [one(probe_answer(kc, u1)),
                        maybe(presence(s, {u, u1.jid}, type="unsubscribed", id="p2", children=()))],
              u1.jid, "probes sent by the client")
        check(got[kc], [], kc.jid, "a probe is handled by the server")
        check(got[sc], [], sc.jid, "a probe is handled by the server")

    arun(body())
