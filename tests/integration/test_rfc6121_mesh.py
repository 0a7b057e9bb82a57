"""Cross-shard scenario: 50 users on both sm shards and both c2s, each
mutually subscribed with its 4 ring neighbours (i+-1, i+-2 mod 50).

Phase 1: everyone logs in at once, subscribes to its neighbours and
approves every request from a neighbour as it arrives (requests to users
not yet available are stored and redelivered); it ends when every user's
roster pushes show 'both' for all four neighbours; then everyone logs out.

Phase 2: everyone logs in again, one after the other (each waits for its
own presence to come back, so the order is known), with roster get and
initial presence. Then every user's roster must be exactly its four
neighbours with subscription='both', and the presence it received must be
exactly: its own; for each neighbour that logged in earlier, that
neighbour's presence (probe answer); for each neighbour that logged in
later, first the neighbour's last unavailable presence with a delay stamp
(probe answer: it was online in phase 1), then its initial presence.
"""

import asyncio
import re
import time
from concurrent.futures import ThreadPoolExecutor

from cluster import C2S_NODES, SM_SHARDS, shard_of
from conftest import PASSWORD
from rfc6121 import (PRESENCE, assert_before, assert_roster, broadcast_to_contact, check, delay_pat,
                     is_push, item, next_stanza, one, online, own_reflection, presence,
                     probe_answer, push_item, roster, send_sub, stamp_between, sync)

N = 50
RING = (1, 2)


def neighbours(i):
    return sorted({(i + d) % N for d in RING} | {(i - d) % N for d in RING})


async def wait_sessions_ended(cluster, jids, since, timeout=20.0):
    """Wait until the sm logs say every session in jids has ended (its
    unavailable presence and last-unavailable record are done then)."""
    left = set(jids)
    deadline = time.monotonic() + timeout
    rx = re.compile(r"session ended jid=(\S+)")
    while left:
        for node in SM_SHARDS:
            with open(cluster.log_path(node), "rb") as f:
                f.seek(since.get(node, 0))
                for line in f.read().decode("utf-8", "replace").splitlines():
                    m = rx.search(line)
                    if m:
                        left.discard(m.group(1))
        if not left:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(left)} sessions not ended after {timeout}s: {sorted(left)[:5]}...")
        await asyncio.sleep(0.1)


def test_fifty_users_ring_of_mutual_subscriptions(cluster, users, client, arun):
    jids = [users.unique(f"mesh{i:02d}-") for i in range(N)]
    with ThreadPoolExecutor(8) as ex:
        list(ex.map(lambda j: cluster.add_user(j, PASSWORD), jids))
    shards = {shard_of(j) for j in jids}
    assert shards == set(SM_SHARDS), f"the users should span both shards: {shards}"
    times = {}

    async def phase1():
        clients = await asyncio.gather(*(online(client, j, "p1", status=f"phase 1 of {i}")
                                         for i, j in enumerate(jids)))
        done = [asyncio.get_running_loop().create_future() for _ in range(N)]
        problems = []

        async def run(i):
            c = clients[i]
            want = {jids[k] for k in neighbours(i)}
            state = {}
            for j in sorted(want):
                send_sub(c, j, "subscribe")
            while True:
                x = await c.inbox.get()
                if x.tag == PRESENCE and x.get("type") == "subscribe":
                    frm = x.get("from")
                    if frm not in want:
                        problems.append(f"{c.jid} got a request from {frm}")
                    send_sub(c, frm, "subscribed")
                elif is_push(x):
                    it = push_item(x)
                    state[it["jid"]] = (it["subscription"], it["ask"])
                    if not done[i].done() and all(state.get(j) == ("both", None) for j in want):
                        done[i].set_result(True)

        tasks = [asyncio.create_task(run(i)) for i in range(N)]
        try:
            await asyncio.wait_for(asyncio.gather(*done), 90)
        except asyncio.TimeoutError:
            missing = [jids[i] for i in range(N) if not done[i].done()]
            raise AssertionError(f"phase 1: {len(missing)} users without 4 'both' items: "
                                 f"{missing[:5]}") from None
        finally:
            for t in tasks:
                t.cancel()
        assert not problems, problems
        since = cluster.log_offsets()
        times["closing"] = time.time()
        await asyncio.gather(*(c.close() for c in clients))
        await wait_sessions_ended(cluster, [c.jid for c in clients], since)
        times["closed"] = time.time()

    async def phase2():
        since = cluster.log_offsets()
        clients, early = [], {}
        for i, j in enumerate(jids):
            c = await online(client, j, "p2", status=f"user {i}")
            seen = []
            while True:     # until its own presence is back: it is available now
                x = await next_stanza(c, 10, "own presence")
                seen.append(x)
                if own_reflection(c, c).matches(x):
                    break
            early[c] = seen
            clients.append(c)
        pairs = [(clients[i], clients[k]) for i in range(N) for k in neighbours(i)]
        got = await sync(*clients, pairs=pairs, timeout=30)
        nodes = set()
        for n in C2S_NODES:
            text = cluster.log_text(n)
            for c in clients:
                if re.search(r"session bound jid=%s " % re.escape(c.jid), text[since.get(n, 0):]):
                    nodes.add(n)
        assert nodes == set(C2S_NODES), f"the 50 sessions should use both c2s: {nodes}"
        for i, c in enumerate(clients):
            received = early[c] + got[c]
            exp = [one(own_reflection(c, c))]
            later = []
            for k in neighbours(i):
                other = clients[k]
                if k < i:
                    exp.append(one(probe_answer(other, c)))
                else:
                    off = presence(jids[k], {jids[i], c.jid}, type="unavailable",
                                   children=[delay_pat(stamp_between(times["closing"], times["closed"]),
                                                       {None, cluster.domain})],
                                   label=f"last unavailable of {jids[k]} with delay")
                    on = broadcast_to_contact(other, jids[i])
                    exp += [one(off), one(on)]
                    later.append((off, on))
            check(received, exp, c.jid, f"(user {i}) presence received in phase 2")
            for off, on in later:
                assert_before(received, off, on, c.jid, "unavailable (probe answer) before the login")
        rosters = await asyncio.gather(*(roster(c) for c in clients))
        for i, have in enumerate(rosters):
            assert_roster(have, [item(jids[k], "both") for k in neighbours(i)], jids[i])

    async def body():
        await phase1()
        await phase2()

    arun(body(), timeout=240)
