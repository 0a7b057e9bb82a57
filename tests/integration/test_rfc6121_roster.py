"""RFC 6121 section 2: roster get/set/remove, pushes, errors, versioning,
the size limit and persistence."""

import pytest

from clients import NS_ROSTER, RawStream, q, stanza_error
from cluster import SM_LIMITS
from conftest import PASSWORD
from rfc6121 import (NS_PREAPPROVAL, NS_ROSTERVER, Account, Model, accounts, assert_before,
                     assert_iq_error, assert_result, assert_roster, build_state, check,
                     close_and_wait, is_push, item, item_of, one, online, presence, push, push_item,
                     push_ver, roster, roster_get, roster_set, roster_set_xml, sync, xs)


def test_stream_features_advertise_rosterver_and_preapproval(cluster, users):
    jid = users.add("feat")
    s = RawStream(cluster.port)
    try:
        s.open()
        s.features()
        s.starttls(cluster.cert)
        res = s.auth_plain(jid.split("@")[0], PASSWORD)
        assert res.tag.endswith("}success"), xs(res)
        s.open()
        feats = s.features()
        tags = [c.tag for c in feats]
        assert q(NS_ROSTERVER, "ver") in tags, f"no <ver xmlns='{NS_ROSTERVER}'/> in {xs(feats)}"
        assert q(NS_PREAPPROVAL, "sub") in tags, f"no <sub xmlns='{NS_PREAPPROVAL}'/> in {xs(feats)}"
        for t in (q(NS_ROSTERVER, "ver"), q(NS_PREAPPROVAL, "sub")):
            e = feats.find(t)
            assert len(e) == 0 and not (e.text or "").strip(), f"informative feature with content: {xs(e)}"
    finally:
        s.close()


async def three_resources(client, jid):
    """r1, r2 interested (roster requested), r3 only connected."""
    r1 = await online(client, jid, "r1", pres=False)
    r2 = await online(client, jid, "r2", pres=False)
    r3 = await online(client, jid, "r3", roster_get_first=False, pres=False)
    got = await sync(r1, r2, r3)
    for c in (r1, r2, r3):
        check(got[c], [], c.jid, "after login")
    return r1, r2, r3


def test_set_get_update_remove_with_pushes_to_interested_resources(cluster, users, client, arun):
    jid, contact = accounts(users, ["rost", "friend"])

    async def body():
        r1, r2, r3 = await three_resources(client, jid)
        vers = []

        async def set_and_check(want, xml=None, **kw):
            r = await (r1.iq("set", xml) if xml else roster_set(r1, want["jid"], **kw))
            assert_result(r, "roster set:")
            assert len(r) == 0, f"a roster set result carries no payload: {xs(r)}"
            got = await sync(r1, r2, r3)
            for c in (r1, r2):
                check(got[c], [one(push(c.jid, want, need_ver=True))], c.jid, f"after setting {want}")
            check(got[r3], [], r3.jid, "(not interested: no push)")
            v1, v2 = push_ver(got[r1][0]), push_ver(got[r2][0])
            assert v1 == v2, f"the same push with versions {v1} and {v2}"
            vers.append(v1)
            return got

        # add (2.3): a new item has subscription='none'
        await set_and_check(item(contact, name="Friend", groups=("Work", "Chess")),
                            name="Friend", groups=("Work", "Chess"))
        assert_roster(await roster(r2), [item(contact, name="Friend", groups=("Work", "Chess"))], jid)
        # update (2.4): atomic, exactly as provided
        await set_and_check(item(contact, name="Pal", groups=("Chess",)), name="Pal", groups=("Chess",))
        assert_roster(await roster(r1), [item(contact, name="Pal", groups=("Chess",))], jid)
        # omitting name and groups clears both; an empty name is no name
        await set_and_check(item(contact), name="")
        assert_roster(await roster(r2), [item(contact)], jid)
        # remove (2.5)
        await set_and_check(item(contact, subscription="remove"), subscription="remove")
        assert_roster(await roster(r1), [], jid)
        assert all(v is not None and v.isdigit() for v in vers), vers
        assert [int(v) for v in vers] == sorted(set(int(v) for v in vers)), \
            f"push versions must be unique and increasing: {vers}"
        # removing it again: item-not-found (2.5.3)
        r = await roster_set(r1, contact, subscription="remove")
        assert_iq_error(r, {"modify", "cancel"}, "item-not-found", "remove of a missing item:")
        got = await sync(r1, r2, r3)
        for c in (r1, r2, r3):
            check(got[c], [], c.jid, "after a failed remove")

    arun(body())


def test_new_roster_is_empty_and_has_a_version(cluster, users, client, arun):
    jid = users.add("fresh")

    async def body():
        c = await online(client, jid, "r", roster_get_first=False, pres=False)
        r = await roster_get(c, ver="")
        assert_result(r, "roster get ver='':")
        qe = r.find(q(NS_ROSTER, "query"))
        assert qe is not None and len(qe) == 0, f"a new roster is an empty <query/>: {xs(r)}"
        assert qe.get("ver") is not None and qe.get("ver").isdigit(), f"no decimal ver: {xs(r)}"

    arun(body())


def _too_long_name_bytes():
    return "é" * 512          # 1024 bytes of UTF-8, 512 characters


@pytest.mark.parametrize("case", [
    "two-items", "duplicate-groups", "empty-group", "long-name", "long-name-utf8", "long-group",
    "no-jid", "bad-jid", "other-account",
])
def test_roster_set_errors(case, cluster, users, client, arun):
    jid, contact, other = accounts(users, ["rerr", "rc", "rother"])
    limit = 1023

    cases = {
        # 2.1.5 / 2.3.3: exactly one item
        "two-items": (f"<query xmlns='{NS_ROSTER}'><item jid='{contact}'/><item jid='{other}'/></query>",
                      "modify", "bad-request"),
        # 2.3.3: duplicate groups
        "duplicate-groups": (roster_set_xml(contact, groups=("Friends", "Friends")),
                             "modify", "bad-request"),
        # 2.3.3: zero-length group
        "empty-group": (f"<query xmlns='{NS_ROSTER}'><item jid='{contact}'><group></group></item></query>",
                        "modify", "not-acceptable"),
        # 2.3.3: name over sm.max_roster_name (1023 bytes by default)
        "long-name": (roster_set_xml(contact, name="n" * (limit + 1)), "modify", "not-acceptable"),
        "long-name-utf8": (roster_set_xml(contact, name=_too_long_name_bytes()),
                           "modify", "not-acceptable"),
        # 2.3.3: group over the server's limit (sm.max_roster_group, 1023 bytes by default)
        "long-group": (roster_set_xml(contact, groups=("g" * (limit + 1),)), "modify", "not-acceptable"),
        # jid is REQUIRED (2.1.2.3); the condition is not specified: bad-request or jid-malformed
        "no-jid": (f"<query xmlns='{NS_ROSTER}'><item name='x'/></query>",
                   "modify", {"bad-request", "jid-malformed"}),
        # not a JID (RFC 6120 8.3.3.8); bad-request accepted as well
        "bad-jid": (roster_set_xml("a@b@c"), "modify", {"jid-malformed", "bad-request"}),
    }

    async def body():
        c = await online(client, jid, "r", pres=False)
        o = await online(client, other, "r", pres=False)
        if case == "other-account":
            # 2.1.5 security: a roster set addressed to another account: forbidden
            r = await c.iq("set", roster_set_xml(contact), to=other)
            assert_iq_error(r, "auth", "forbidden", "roster set to another account:")
        else:
            xml, etype, cond = cases[case]
            r = await c.iq("set", xml)
            assert r.get("type") == "error", f"{case}: expected an error, got {xs(r)}"
            if isinstance(cond, set):
                t, k = stanza_error(r)
                assert k in cond, f"{case}: condition {k}, want one of {cond}: {xs(r)}"
            else:
                assert_iq_error(r, etype, cond, f"{case}:")
        got = await sync(c, o)
        check(got[c], [], c.jid, f"after the refused set ({case}): no push")
        check(got[o], [], o.jid, f"after the refused set ({case})")
        assert_roster(await roster(c), [], jid)
        assert_roster(await roster(o), [], other)

    arun(body())


def test_roster_name_and_group_limits_are_bytes_and_inclusive(cluster, users, client, arun):
    jid, contact, contact2 = accounts(users, ["rname", "rc", "rc"])
    g = "g" * 1023

    async def body():
        c = await online(client, jid, "r", pres=False)
        assert_result(await roster_set(c, contact, name="n" * 1023, groups=(g,)),
                      "name and group of 1023 bytes:")
        assert_result(await roster_set(c, contact2, name="é" * 511 + "n"), "name of 1023 bytes (UTF-8):")
        got = await sync(c)
        check(got[c], [one(push(c.jid, item(contact, name="n" * 1023, groups=(g,)))),
                       one(push(c.jid, item(contact2, name="é" * 511 + "n")))], c.jid, "pushes")
        assert_roster(await roster(c), [item(contact, name="n" * 1023, groups=(g,)),
                                        item(contact2, name="é" * 511 + "n")], jid)

    arun(body())


@pytest.mark.parametrize("value", ["both", "to", "from", "none", "bogus"])
def test_roster_set_ignores_subscription_other_than_remove(value, cluster, users, client, arun):
    """2.1.5: "The server MUST ignore any value of the 'subscription'
    attribute other than "remove"" -- not an error; likewise 'ask' and
    'approved', which clients MUST NOT send (2.1.2.1, 2.1.2.2). Nothing is
    sent to the contact. A value outside the schema of Appendix D
    ('bogus') may instead be refused as <bad-request/> (modify), with no
    change."""
    jid, contact = accounts(users, ["rsub", "rsubc"])

    async def body():
        c = await online(client, jid, "r")
        k = await online(client, contact, "k")
        await sync(c, k)
        xml = roster_set_xml(contact, name="N", subscription=value,
                             extra_attrs=" ask='subscribe' approved='true'")
        r = await c.iq("set", xml)
        if value == "bogus" and r.get("type") == "error":
            assert_iq_error(r, "modify", "bad-request", "subscription='bogus':")
            got = await sync(c, k)
            check(got[c], [], c.jid, "after the refused set")
            check(got[k], [], k.jid, "the contact gets nothing")
            assert_roster(await roster(c), [], jid)
            return
        assert_result(r, f"roster set with subscription='{value}':")
        got = await sync(c, k)
        check(got[c], [one(push(c.jid, item(contact, name="N")))], c.jid, "after the set")
        check(got[k], [], k.jid, "the contact gets nothing")
        assert_roster(await roster(c), [item(contact, name="N")], jid)
        assert_roster(await roster(k), [], contact)

    arun(body())


def test_roster_set_own_bare_jid(cluster, users, client, arun):
    """2.3.3 Interoperability Note: an item for the user's own bare JID is
    not an error in the RFC, "some servers return <not-allowed/>". Either
    is accepted: a result with the usual push and the item in the
    roster, or <not-allowed/> (cancel) and no change."""
    jid = users.add("rself")

    async def body():
        c = await online(client, jid, "r", pres=False)
        r = await roster_set(c, jid, name="me")
        got = await sync(c)
        if r.get("type") == "result":
            check(got[c], [one(push(c.jid, item(jid, name="me")))], c.jid, "after adding oneself")
            assert_roster(await roster(c), [item(jid, name="me")], jid)
        else:
            assert_iq_error(r, "cancel", "not-allowed", "own bare JID:")
            check(got[c], [], c.jid, "after the refused set")
            assert_roster(await roster(c), [], jid)

    arun(body())


def test_roster_versioning(cluster, users, client, arun):
    """2.6: current ver -> empty result; older ver -> empty result, then
    one push per item changed since (final state, removals included), in
    order of modification, each with its version; unknown or newer ver ->
    the whole roster with the current ver. Other resources get none of the
    interim pushes."""
    jid, a, b, cc, d = accounts(users, ["rver", "va", "vb", "vc", "vd"])

    async def body():
        r1 = await online(client, jid, "r1", pres=False)
        r2 = await online(client, jid, "r2", pres=False)
        await sync(r1, r2)

        async def change(**kw):
            jid_ = kw.pop("jid")
            assert_result(await roster_set(r1, jid_, **kw))
            got = await sync(r1, r2)
            assert len(got[r1]) == 1 and is_push(got[r1][0]), [xs(x) for x in got[r1]]
            return push_ver(got[r1][0])

        v_d = await change(jid=d, name="D")
        r = await roster_get(r1, ver="")
        qe = r.find(q(NS_ROSTER, "query"))
        assert qe is not None and qe.get("ver") == v_d, f"full roster should carry ver={v_d}: {xs(r)}"
        v0 = v_d
        v1 = await change(jid=a, name="A")
        v2 = await change(jid=b, name="B")
        v3 = await change(jid=a, name="A2", groups=("G",))
        v4 = await change(jid=b, subscription="remove")
        v5 = await change(jid=cc, name="C")
        vs = [int(v) for v in (v0, v1, v2, v3, v4, v5)]
        assert vs == sorted(set(vs)), f"versions not increasing: {vs}"

        # current version: empty result, nothing else
        r = await roster_get(r1, ver=v5)
        assert_result(r, f"roster get ver={v5}:")
        assert len(r) == 0, f"current version: expected an empty IQ result, got {xs(r)}"
        got = await sync(r1, r2)
        check(got[r1], [], r1.jid, "after a get with the current version")
        check(got[r2], [], r2.jid, "after r1's get")

        # older versions: interim pushes
        final = {a: (item(a, name="A2", groups=("G",)), v3), b: (item(b, subscription="remove"), v4),
                 cc: (item(cc, name="C"), v5)}
        for old, changed in ((v0, [a, b, cc]), (v2, [a, b, cc]), (v3, [b, cc]), (v4, [cc])):
            r = await roster_get(r1, ver=old)
            assert_result(r, f"roster get ver={old}:")
            assert len(r) == 0, f"older version {old}: expected an empty IQ result, got {xs(r)}"
            got = await sync(r1, r2)
            exp = [one(push(r1.jid, final[j][0], ver=final[j][1])) for j in changed]
            check(got[r1], exp, r1.jid, f"interim pushes after a get with ver={old}")
            order = [push_item(x)["jid"] for x in got[r1]]
            assert order == sorted(changed, key=lambda j: int(final[j][1])), \
                f"interim pushes must come in order of modification: {order}"
            check(got[r2], [], r2.jid, "interim pushes go only to the requesting resource")

        # unknown / newer versions: the whole roster with the current version
        for weird in (str(int(v5) + 1000), "not-a-version"):
            r = await roster_get(r1, ver=weird)
            assert_result(r, f"roster get ver={weird}:")
            qe = r.find(q(NS_ROSTER, "query"))
            assert qe is not None, f"ver={weird}: expected the full roster, got {xs(r)}"
            assert qe.get("ver") == v5, f"ver={weird}: full roster should carry ver={v5}: {xs(r)}"
            have = {item_of(i)["jid"]: item_of(i) for i in qe}
            assert_roster(have, [item(d, name="D"), item(a, name="A2", groups=("G",)),
                                 item(cc, name="C")], jid)
            got = await sync(r1, r2)
            check(got[r1], [], r1.jid, f"after a full roster for ver={weird}")

    arun(body())


def test_roster_max_items(cluster, users, client, arun):
    limit = SM_LIMITS["max_roster_items"]
    jid = users.add("rmax")
    contacts = [users.unique("rmc") for _ in range(limit + 2)]

    async def body():
        c = await online(client, jid, "r", pres=False)
        for j in contacts[:limit]:
            assert_result(await roster_set(c, j), f"item {j} (within the limit of {limit}):")
        r = await roster_set(c, contacts[limit])
        assert r.get("type") == "error", f"item {limit + 1} beyond sm.max_roster_items={limit}: {xs(r)}"
        assert stanza_error(r) in (("cancel", "not-allowed"), ("wait", "resource-constraint")), \
            f"beyond the limit: not-allowed (cancel) or resource-constraint (wait), got {xs(r)}"
        got = await sync(c)
        check(got[c], [one(push(c.jid, item(j))) for j in contacts[:limit]], c.jid,
              "pushes up to the limit")
        # updating an existing item is still allowed at the limit
        assert_result(await roster_set(c, contacts[0], name="updated"), "update at the limit:")
        # after a removal there is room again
        assert_result(await roster_set(c, contacts[1], subscription="remove"), "remove:")
        assert_result(await roster_set(c, contacts[limit + 1]), "add after a removal:")
        got = await sync(c)
        check(got[c], [one(push(c.jid, item(contacts[0], name="updated"))),
                       one(push(c.jid, item(contacts[1], subscription="remove"))),
                       one(push(c.jid, item(contacts[limit + 1])))], c.jid, "after update/remove/add")
        have = await roster(c)
        assert len(have) == limit and contacts[limit] not in have and contacts[1] not in have, sorted(have)

    arun(body())


def test_roster_persists_across_logout_login(cluster, users, client, arun):
    jid, k, x, y = accounts(users, ["rpers", "rpk", "rpx", "rpy"])

    async def body():
        u1 = await online(client, jid, "u")
        kc = await online(client, k, "k")
        await sync(u1, kc)
        model = Model(Account(jid, [u1]), Account(k, [kc]))
        await build_state(model, "Both")
        assert_result(await roster_set(u1, x, name="Ex", groups=("A", "B")))
        assert_result(await roster_set(u1, y, name="Why"))
        assert_result(await roster_set(u1, y, subscription="remove"))
        assert_result(await roster_set(u1, k, name="Kay", groups=("Friends",)))
        got = await sync(u1, kc)
        ver = push_ver(got[u1][-1])
        want = [item(k, "both", name="Kay", groups=("Friends",)), item(x, name="Ex", groups=("A", "B"))]
        assert_roster(await roster(u1), want, jid)
        await close_and_wait(cluster, u1)
        got = await sync(kc)
        u2 = await online(client, jid, "again", roster_get_first=False, pres=False)
        assert_roster(await roster(u2), want, jid)
        r = await roster_get(u2, ver=ver)
        assert_result(r, f"roster get with the last version {ver} after a new login:")
        assert len(r) == 0, f"the version survives the logout: expected an empty result, got {xs(r)}"
        got = await sync(u2)
        check(got[u2], [], u2.jid, "after the versioned get")

    arun(body())


@pytest.mark.parametrize("state", ["Both", "From", "To"])
def test_remove_cancels_subscriptions(state, cluster, users, client, arun):
    """2.5.2: removing an item with a subscription sends unsubscribe (the
    user had 'to'), unsubscribed (the contact had 'from') or both, from
    the user's bare JID; the contact's side follows Tables 7 and 9."""
    jid, k = accounts(users, ["rrm", "rrmk"], shards="different")

    async def body():
        u = await online(client, jid, "u", status="u here")
        kc = await online(client, k, "k", status="k here")
        await sync(u, kc)
        model = Model(Account(jid, [u]), Account(k, [kc]))
        await build_state(model, state)
        assert_result(await roster_set(u, k, subscription="remove"), "remove:")
        got = await sync(u, kc)
        exp_u = [one(push(u.jid, item(k, subscription="remove")))]
        exp_k = []
        order = []
        if state in ("Both", "To"):        # u had 'to': unsubscribe
            uns = presence(jid, k, type="unsubscribe", children=(), label="unsubscribe from u")
            exp_k.append(one(uns))
            # k loses 'from': k's resources send unavailable to u (3.3.3 #3)
            exp_u.append(one(presence(kc.jid, jid, type="unavailable", children=())))
        if state in ("Both", "From"):      # k had 'to': unsubscribed, after u's unavailable
            unsd = presence(jid, k, type="unsubscribed", children=(), label="unsubscribed from u")
            un = presence(u.jid, k, type="unavailable", children=(), label="unavailable of u")
            exp_k += [one(unsd), one(un)]
            order.append((un, unsd))
        final = {"Both": "none", "From": "none", "To": "none"}[state]
        mid = {"Both": "to"}.get(state)
        if mid:
            exp_k.append(one(push(kc.jid, item(jid, mid))))
        exp_k.append(one(push(kc.jid, item(jid, final))))
        check(got[u], exp_u, u.jid, f"after removing a contact in state {state}")
        check(got[kc], exp_k, kc.jid, f"after being removed by a contact in state {state}")
        for a, b in order:
            assert_before(got[kc], a, b, kc.jid)
        assert_roster(await roster(u), [], jid)
        assert_roster(await roster(kc), [item(jid, final)], k)

    arun(body())
