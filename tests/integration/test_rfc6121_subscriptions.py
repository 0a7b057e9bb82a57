"""RFC 6121 Appendix A: one test per row of each subscription state table.

test_outbound[<kind>-<state>] is the row <state> of Table 2 (subscribe),
3 (unsubscribe), 4 (subscribed) or 5 (unsubscribed): the user u, in that
state toward the contact c, sends the stanza. test_inbound[<kind>-<state>]
is the row of Table 6, 7, 8 or 9: u is in that state, c sends the stanza
to u. Both tests of a row pair drive the same protocol, seen from the
other side, with a different topology: outbound rows put u and c on
different sm shards and different c2s processes (every stanza crosses
the router between the sms), inbound rows put them on the same sm shard
(inbound processing without a hop) and different c2s.

Each test reaches the starting state by the protocol (rfc6121.RECIPES,
every step checked), sends the stanza, and checks with a barrier
(rfc6121.sync) exactly what every resource received: the delivered
subscription stanza (or that it was not delivered), roster pushes,
auto-replies, the presence side effects (current presence after an
approval, unavailable after a cancellation), against rfc6121.Model,
which applies the tables literally. Then roster gets on both sides, and
a last subscribe in each direction reveals the hidden pending-in state.

Auto-replies (Table 6 [2] subscribed, Table 7 [1] unsubscribed) reach a
contact whose state, on the same server, already makes it ignore them
(Tables 8 and 9): the rows check that nothing shows. The subscribed
auto-reply is made visible in test_rfc6121_subscription_flows.py (by
resetting the contact's roster, and by pre-approval).
"""

import pytest

from rfc6121 import (IN, KINDS, OUT, STATES, Account, Model, accounts, assert_result, build_state,
                     check, check_pending_in, check_rosters, login_on, one, own_reflection,
                     roster_get, send_presence, step, sync)


async def two_online(cluster, client, users, same_shard):
    u_jid, c_jid = accounts(users, ["subu", "subc"], shards="same" if same_shard else "different")
    cu, node = await login_on(cluster, client, u_jid, "u")
    cc, _ = await login_on(cluster, client, c_jid, "c", avoid_c2s=node)
    for c, who in ((cu, "u"), (cc, "c")):
        assert_result(await roster_get(c), c.jid)
        send_presence(c, status=f"{who} is here")
    got = await sync(cu, cc)
    check(got[cu], [one(own_reflection(cu, cu))], cu.jid, "after initial presence")
    check(got[cc], [one(own_reflection(cc, cc))], cc.jid, "after initial presence")
    return Model(Account(u_jid, [cu]), Account(c_jid, [cc]))


def run_row(direction, kind, state, cluster, users, client, arun):
    async def body():
        model = await two_online(cluster, client, users, same_shard=(direction == "in"))
        await build_state(model, state)
        if direction == "out":
            table_new = OUT[kind][state][1]
            await step(model, kind, model.u, context=f"(row {state!r} of the outbound {kind} table)")
            if table_new not in (None, "pre-approval"):
                assert model.u.state == table_new
        else:
            table_new = IN[kind][state][1]
            await step(model, kind, model.c, context=f"(row {state!r} of the inbound {kind} table)")
            if table_new is not None and model.u.approved is False:
                assert model.u.state == table_new
        await check_rosters(model)
        await check_pending_in(model)

    arun(body(), timeout=90)


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("kind", KINDS)
def test_outbound(kind, state, cluster, users, client, arun):
    run_row("out", kind, state, cluster, users, client, arun)


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("kind", KINDS)
def test_inbound(kind, state, cluster, users, client, arun):
    run_row("in", kind, state, cluster, users, client, arun)
