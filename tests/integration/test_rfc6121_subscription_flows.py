"""RFC 6121 section 3 beyond the single rows of Appendix A: stored
subscription requests (3.1.3 #4), pre-approval (3.4), who receives what
(available vs interested resources, 2.2 / 3.1), subscription stanzas to
full JIDs and to accounts that do not exist."""

import re
import time

import pytest

from cluster import SM_SHARDS
from conftest import PASSWORD
from rfc6121 import (ANY, NS_CLIENT, Account, Exp, Model, accounts, assert_before, assert_result,
                     assert_roster, broadcast_to_contact, build_state, check, close_and_wait,
                     delay_pat, el, has_to, item, maybe, one, online, own_reflection, presence,
                     push, roster, send_presence, send_sub, stamp_between, step, sync,
                     wait_for_stanzas, xs)


def sub_request(frm_bare, to_bare, sid, children=()):
    return presence(frm_bare, to_bare, type="subscribe", id=sid, children=list(children),
                    label=f"subscribe from {frm_bare} id={sid}")


def test_pending_request_stored_and_redelivered_until_answered(cluster, users, client, arun):
    """3.1.3 #4: a request to a contact without available resources is
    kept (the complete stanza with its extensions, plus a XEP-0203 delay
    stamped by the server when it arrived), delivered when the
    contact next becomes available -- not on bind, not on a roster get --,
    again at every new available resource until answered, and only one
    per requester."""
    u, k = accounts(users, ["pend", "pendk"], shards="different")
    ext = "<status>let me in</status><nick xmlns='http://jabber.org/protocol/nick'>Requester</nick>"

    async def body():
        uc = await online(client, u, "u", status="u here")
        await sync(uc)
        t0 = time.time()
        uc.send_raw(f"<presence xmlns='{NS_CLIENT}' to='{k}' type='subscribe' id='req1'>{ext}</presence>")
        uc.send_raw(f"<presence xmlns='{NS_CLIENT}' to='{k}' type='subscribe' id='req2'>"
                    f"<status>second try</status></presence>")
        got = await sync(uc)
        check(got[uc], [one(push(uc.jid, item(k, ask="subscribe"))),
                        maybe(push(uc.jid, item(k, ask="subscribe")))], uc.jid, "after subscribing")
        stamped = delay_pat(stamp_between(t0, time.time()), frm={cluster.domain})
        first = sub_request(u, k, "req1", [
            el("<status>let me in</status>"),
            el("<nick xmlns='http://jabber.org/protocol/nick'>Requester</nick>"), stamped])
        second = sub_request(u, k, "req2", [el("<status>second try</status>"), stamped])
        stored = [first, second]        # the first or the last one, only one of them

        for attempt in range(2):
            kc = await online(client, k, f"k{attempt}", pres=False)
            got = await sync(kc, uc)
            check(got[kc], [], kc.jid, "bound and roster requested, not available: nothing yet")
            send_presence(kc, status="k here")
            got = await sync(kc, uc)
            reqs = [x for x in got[kc] if x.get("type") == "subscribe"]
            which = [p for p in stored if reqs and p.matches(reqs[0])]
            assert len(reqs) == 1 and which, \
                f"attempt {attempt}: expected one stored request, got {[xs(x) for x in got[kc]]}"
            check(got[kc], [one(own_reflection(kc, kc)), one(which[0])], kc.jid,
                  f"initial presence #{attempt + 1}")
            check(got[uc], [maybe(presence(k, u, type="unavailable", children=()))], uc.jid,
                  "(an unavailable acknowledgement may come)")
            await close_and_wait(cluster, kc)
            await sync(uc)

        # answered: approve from a new session, then no more requests
        kc = await online(client, k, "k-final", status="k again")
        got = await sync(kc, uc)
        assert len([x for x in got[kc] if x.get("type") == "subscribe"]) == 1
        kc.send_raw(f"<presence xmlns='{NS_CLIENT}' to='{u}' type='subscribed' id='ok1'/>")
        got = await sync(kc, uc)
        check(got[kc], [one(push(kc.jid, item(u, "from")))], kc.jid, "after approving")
        check(got[uc], [one(presence(k, u, type="subscribed", id="ok1", children=())),
                        one(push(uc.jid, item(k, "to"))),
                        Exp_presence(kc, u)], uc.jid, "after the approval")
        await kc.close()
        gone = presence(kc.jid, u, type="unavailable", children=())
        got = await wait_for_stanzas(uc, [gone])
        check(got[uc], [one(gone)], uc.jid, "k's session ended")
        kc = await online(client, k, "k-later", status="k later")
        got = await sync(kc, uc)
        check(got[kc], [one(own_reflection(kc, kc))], kc.jid, "an answered request is not redelivered")
        check(got[uc], [one(broadcast_to_contact(kc, u))], uc.jid, "k's presence now reaches u")

    arun(body(), timeout=60)


def Exp_presence(src, dst_bare, lo=1, hi=2):
    return Exp(broadcast_to_contact(src, dst_bare, keep_id=False), lo, hi)


def test_request_reaches_only_available_resources_pushes_reach_interested(cluster, users, client, arun):
    """2.2 / 3.1 Implementation Note: subscribe goes to available
    resources; subscribed / unsubscribe / unsubscribed and roster pushes
    to interested ones (roster requested, available or not); presence to
    available ones. u has an available+interested resource, an
    interested-only one and a connected-only one."""
    u, k = accounts(users, ["aud", "audk"], shards="different")

    async def body():
        ua = await online(client, u, "avail", status="u avail")
        ui = await online(client, u, "interested", pres=False)
        uc = await online(client, u, "connected", roster_get_first=False, pres=False)
        kc = await online(client, k, "k", status="k here")
        got = await sync(ua, ui, uc, kc)
        check(got[ua], [one(own_reflection(ua, ua))], ua.jid, "after login")
        for c in (ui, uc):
            check(got[c], [], c.jid, "after login (not available)")
        model = Model(Account(u, [ua, ui, uc], available={ua}, interested={ua, ui}), Account(k, [kc]))
        for kind, who in (("subscribe", "k"), ("subscribed", "u"), ("subscribe", "u"), ("subscribed", "k"),
                          ("unsubscribe", "k"), ("unsubscribed", "k"), ("subscribe", "u"),
                          ("unsubscribed", "k")):
            await step(model, kind, model.u if who == "u" else model.c, context="(audiences)")
        assert_roster(await roster(ua), [item(k)], u)

    arun(body(), timeout=60)


def test_preapproval_online(cluster, users, client, arun):
    """3.4: subscribed before any request (None) is a pre-approval: item
    created with approved='true', nothing routed; the contact's later
    subscribe is answered by the server (never delivered), the state goes
    to From."""
    u, k = accounts(users, ["pre", "prek"], shards="different")

    async def body():
        uc = await online(client, u, "u", status="u here")
        kc = await online(client, k, "k", status="k here")
        await sync(uc, kc)
        model = Model(Account(u, [uc]), Account(k, [kc]))
        await step(model, "subscribed", model.u, "(pre-approval)")
        assert_roster(await roster(uc), [item(k, approved=True)], u)
        assert_roster(await roster(kc), [], k)
        await step(model, "subscribe", model.c, "(request after a pre-approval)")
        assert model.u.state == "From" and model.c.state == "To"
        assert_roster(await roster(uc), [item(k, "from", approved=ANY)], u)
        assert_roster(await roster(kc), [item(u, "to")], k)

    arun(body())


def test_preapproval_in_to_and_pending_out(cluster, users, client, arun):
    """3.4.2 #3 in state To (-> Both when the request comes) and None +
    Pending Out (-> From + Pending Out)."""
    u, k, k2 = accounts(users, ["pre2", "pre2k", "pre2l"])

    async def body():
        uc = await online(client, u, "u", status="u here")
        kc = await online(client, k, "k", status="k here")
        lc = await online(client, k2, "l", status="l here")
        await sync(uc, kc, lc)
        m1 = Model(Account(u, [uc]), Account(k, [kc]))
        await build_state(m1, "To")
        await step(m1, "subscribed", m1.u, "(pre-approval in To)")
        await step(m1, "subscribe", m1.c, "(request after a pre-approval in To)")
        assert m1.u.state == "Both"
        m2 = Model(Account(u, [uc]), Account(k2, [lc]))
        await build_state(m2, "None+PO")
        await step(m2, "subscribed", m2.u, "(pre-approval in None + Pending Out)")
        await step(m2, "subscribe", m2.c, "(request after a pre-approval in None + Pending Out)")
        assert m2.u.state == "From+PO"
        assert_roster(await roster(uc), [item(k, "both", approved=ANY),
                                         item(k2, "from", ask="subscribe", approved=ANY)], u)

    arun(body())


def test_preapproval_cancelled_by_unsubscribed_or_remove(cluster, users, client, arun):
    """3.2.2 #2 / 3.4 notes: unsubscribed cancels a pre-approval (push
    without 'approved', nothing routed); so does removing the item; a
    later request is then delivered as usual."""
    u, k, k2 = accounts(users, ["prec", "preck", "precl"])

    async def body():
        uc = await online(client, u, "u", status="u here")
        kc = await online(client, k, "k", status="k here")
        lc = await online(client, k2, "l", status="l here")
        await sync(uc, kc, lc)
        m1 = Model(Account(u, [uc]), Account(k, [kc]))
        await step(m1, "subscribed", m1.u, "(pre-approval)")
        await step(m1, "unsubscribed", m1.u, "(cancel the pre-approval)")
        assert_roster(await roster(uc), [item(k)], u)
        await step(m1, "subscribe", m1.c, "(request after the cancelled pre-approval)")
        assert m1.u.state == "None+PI"

        send_sub(uc, k2, "subscribed")
        got = await sync(uc, lc)
        check(got[uc], [one(push(uc.jid, item(k2, approved=True)))], uc.jid, "pre-approval")
        assert_result(await uc.iq("set", f"<query xmlns='jabber:iq:roster'><item jid='{k2}' "
                                         f"subscription='remove'/></query>"))
        got = await sync(uc, lc)
        check(got[uc], [one(push(uc.jid, item(k2, subscription="remove")))], uc.jid, "remove")
        check(got[lc], [], lc.jid, "nothing to the contact of a removed pre-approval")
        sid = send_sub(lc, u, "subscribe")
        got = await sync(uc, lc)
        check(got[uc], [one(presence(k2, u, type="subscribe", id=sid, children=()))], uc.jid,
              "the request is delivered: the pre-approval went with the item")
        check(got[lc], [one(push(lc.jid, item(u, ask="subscribe"))),
                        maybe(presence(u, k2, type="unavailable", children=()))],
              lc.jid, "after subscribing")

    arun(body())


def test_preapproval_while_offline(cluster, users, client, arun):
    """A pre-approval works while the user is offline: the contact gets
    subscribed and the roster push at once; the user finds the contact
    with 'from' at the next login and no request is delivered."""
    u, k = accounts(users, ["preo", "preok"], shards="different")

    async def body():
        uc = await online(client, u, "u", status="u here")
        await sync(uc)
        t0 = time.time()
        send_sub(uc, k, "subscribed")
        got = await sync(uc)
        check(got[uc], [one(push(uc.jid, item(k, approved=True)))], uc.jid, "pre-approval")
        await close_and_wait(cluster, uc)
        t1 = time.time()
        kc = await online(client, k, "k", status="k here")
        await sync(kc)
        sid = send_sub(kc, u, "subscribe")
        # u's state is read from storage first: wait for the answer.
        subd = presence(u, k, type="subscribed", children=())
        to = push(kc.jid, item(u, "to"))
        got = await wait_for_stanzas(kc, [subd, to])
        # u is offline but has been online: a probe after the approval may
        # bring its last unavailable presence (with a delay stamp), maybe
        # later than this barrier (storage again).
        late = presence(u, k, type="unavailable",
                        children=[delay_pat(stamp_between(t0, t1), {None, cluster.domain})],
                        label="(optional) last unavailable of u with delay")
        check(got[kc], [one(push(kc.jid, item(u, ask="subscribe"))), one(subd), one(to), maybe(late)],
              kc.jid, "after subscribing to a pre-approving, offline user")
        late_seen = any(late.matches(x) for x in got[kc])
        uc = await online(client, u, "u2", status="u back")
        got = await sync(uc, kc)
        check(got[uc], [one(own_reflection(uc, uc))], uc.jid, "no request is delivered")
        check(got[kc], [one(broadcast_to_contact(uc, k))] + ([] if late_seen else [maybe(late)]),
              kc.jid, "u's initial presence reaches its new subscriber")
        assert sid
        assert_roster(await roster(uc), [item(k, "from", approved=ANY)], u)

    arun(body())


def test_subscription_stanzas_to_full_jids_are_handled_as_bare(cluster, users, client, arun):
    """3.1.2 / 3.1.3: a full 'to' is treated as the bare JID (rewritten);
    the server does the same for subscribed/unsubscribe/unsubscribed, also
    to a resource that is not online, and stamps the bare 'from'."""
    u, k = accounts(users, ["full", "fullk"], shards="different")

    async def body():
        uc = await online(client, u, "u", status="u here")
        kc = await online(client, k, "k", status="k here")
        await sync(uc, kc)
        model = Model(Account(u, [uc]), Account(k, [kc]))
        m, c = model.u, model.c
        for kind, actor, to in (("subscribe", m, kc.jid), ("unsubscribed", c, f"{u}/offline"),
                                ("subscribe", m, f"{k}/gone"), ("subscribed", c, f"{u}/elsewhere"),
                                ("subscribe", c, uc.jid), ("subscribed", m, kc.jid),
                                ("unsubscribe", m, f"{k}/gone"), ("unsubscribe", c, uc.jid)):
            await step(model, kind, actor, f"(to the full JID {to})", to=to)
        assert (m.state, c.state) == ("None", "None")
        assert_roster(await roster(uc), [item(k)], u)
        assert_roster(await roster(kc), [item(u)], k)

    arun(body())


def test_subscription_stanzas_to_nonexistent_account_are_silently_ignored(cluster, users, client,
                                                                          arun):
    """8.5.1: subscription stanzas to an account that does not exist are
    silently ignored: no error or other presence comes back. The user's
    side may still note the request (Table 2: push with ask='subscribe');
    if it does, the roster holds that item."""
    u = users.add("ghostfan")
    ghost = f"nobody-{time.monotonic_ns()}@{cluster.domain}"

    async def follow_up(uc):
        # An IQ to the same account takes the same path and is answered with
        # an error: it arrives after anything the presence could cause.
        r = await uc.iq("get", "<query xmlns='urn:example:none'/>", to=ghost)
        assert r.get("type") == "error", xs(r)
        return (await sync(uc))[uc]

    async def body():
        uc = await online(client, u, "u", status="here")
        await sync(uc)
        send_sub(uc, ghost, "subscribe")
        got = await follow_up(uc)
        check(got, [maybe(push(uc.jid, item(ghost, ask="subscribe")))], uc.jid, "after subscribe")
        have = await roster(uc)
        if got:
            assert_roster(have, [item(ghost, ask="subscribe")], u)
        else:
            assert_roster(have, [], u)
        for kind in ("unsubscribe", "subscribed", "unsubscribed"):
            send_sub(uc, ghost, kind)
            got = await follow_up(uc)
            assert not [x for x in got if x.tag.endswith("}presence")], \
                f"{kind}: no presence comes back: {[xs(x) for x in got]}"
            assert all(x.tag.endswith("}iq") and x.get("type") == "set" for x in got), [xs(x) for x in got]

    arun(body())


@pytest.mark.parametrize("state", ["From", "From+PO", "Both"])
def test_autoreply_subscribed_to_a_contact_that_lost_its_roster(state, cluster, users, client, arun):
    """Table 6 rows From, From + Pending Out and Both, footnote [2] (3.1.3
    #2): a subscribe from a contact who already has a subscription is not
    delivered; the server answers subscribed on the user's behalf. Between
    two accounts of this server the two sides never disagree, so the
    answer is ignored by the contact's side (Table 8) and invisible; here
    the contact's account is deleted and created again (its roster goes
    with it) while the user keeps the item, so the auto-reply moves the
    contact from None + Pending Out to To, and shows."""
    u, k = accounts(users, ["auto", "autok"], shards="different")

    async def body():
        uc = await online(client, u, "u", status="u here")
        kc = await online(client, k, "k", status="k here")
        await sync(uc, kc)
        model = Model(Account(u, [uc]), Account(k, [kc]))
        await build_state(model, state)
        since = cluster.log_offsets()
        await kc.close()
        await cluster.wait_log(SM_SHARDS, r"session ended jid=%s " % re.escape(kc.jid), since)
        if has_to(state):
            got = await wait_for_stanzas(uc, [presence(kc.jid, u, type="unavailable", children=())])
            check(got[uc], [one(presence(kc.jid, u, type="unavailable", children=()))], uc.jid, "k left")
        else:
            check((await sync(uc))[uc], [], uc.jid, "k left (u is not subscribed to k)")
        r = cluster.xmppctl("user", "del", k)
        assert r.returncode == 0, r.stdout + r.stderr
        cluster.add_user(k, PASSWORD)

        kc2 = await online(client, k, "again", status="k is new")
        got = await sync(uc, kc2)
        check(got[kc2], [one(own_reflection(kc2, kc2))], kc2.jid, "a new account: nothing from u")
        check(got[uc], [], uc.jid, "k's new account has no contacts")
        assert_roster(await roster(kc2), [], k)

        sid = send_sub(kc2, u, "subscribe")
        got = await sync(uc, kc2)
        auto = presence(u, k, type="subscribed", children=None, label=f"auto-reply subscribed from {u}")
        to = push(kc2.jid, item(u, "to"))
        check(got[kc2], [one(push(kc2.jid, item(u, ask="subscribe"))), one(auto), one(to),
                         Exp(broadcast_to_contact(uc, k, keep_id=False), 1, 2)],
              kc2.jid, f"subscribe to a user in state {state}: the server answers")
        assert_before(got[kc2], auto, to, kc2.jid)
        check(got[uc], [], uc.jid, f"the request is not delivered, no push (state {state})")
        assert_roster(await roster(uc), [model.u.visible(model.c)], u)
        assert_roster(await roster(kc2), [item(u, "to")], k)
        assert sid
