"""Paths between processes: routers only, direct links only, and a direct
node coming back after kill -9 (docs/architecture.md, Paths).

Each test runs on a cluster of its own (this module's fixtures), since
they stop, freeze or kill processes."""

import asyncio
import itertools
import signal
import time

import pytest

from clients import run
from cluster import ROUTERS, shard_of, slot_of
from conftest import PASSWORD, ClientFactory, running_cluster
from rfc6121 import NS_ROSTER, assert_result, roster_get, roster_set
from test_chat import check_chat

N = 50
_numbers = itertools.count(1)


@pytest.fixture(scope="module")
def routed(tmp_path_factory):
    with running_cluster(tmp_path_factory.mktemp("paths"), direct=False) as c:
        yield c


@pytest.fixture(scope="module")
def linked(tmp_path_factory):
    with running_cluster(tmp_path_factory.mktemp("paths")) as c:
        try:
            yield c
        finally:
            for r in ROUTERS:           # in case a test left them frozen
                if c.procs.get(r) and c.procs[r].poll() is None:
                    c.procs[r].send_signal(signal.SIGCONT)


def pair_on_two_shards(cluster, prefix):
    """Two new accounts whose slots fall on different sm shards."""
    a = f"{prefix}a{next(_numbers)}@{cluster.domain}"
    b = f"{prefix}b{next(_numbers)}@{cluster.domain}"
    while shard_of(b) == shard_of(a):
        b = f"{prefix}b{next(_numbers)}@{cluster.domain}"
    return cluster.add_user(a, PASSWORD), cluster.add_user(b, PASSWORD)


async def chat_both_ways(make, a_jid, b_jid, tag):
    """Log both in, send N messages each way, check them all in order, and
    a roster add (a storage write and read) for a."""
    a = await make(a_jid).login()
    b = await make(b_jid).login()
    for i in range(N):
        a.send_message(b.jid, f"{tag} a2b {i}", mid=f"{tag}-a{i}")
        b.send_message(a.jid, f"{tag} b2a {i}", mid=f"{tag}-b{i}")
    for i in range(N):
        check_chat(await b.next_message(), a.jid, b.jid, f"{tag} a2b {i}", f"{tag}-a{i}")
        check_chat(await a.next_message(), b.jid, a.jid, f"{tag} b2a {i}", f"{tag}-b{i}")
    assert_result(await roster_set(a, b_jid, name="Bee"), "roster set:")
    items = (await roster_get(a)).findall(f"{{{NS_ROSTER}}}query/{{{NS_ROSTER}}}item")
    assert [(i.get("jid"), i.get("name")) for i in items] == [(b_jid, "Bee")], items


def run_with_clients(cluster, body, timeout=90):
    make = ClientFactory(cluster)

    async def main():
        try:
            return await body(make)
        finally:
            await make.close_all()
    return run(main(), timeout)


def test_without_direct_links_everything_goes_through_the_routers(routed):
    assert "\ndirect:" not in routed.config.read_text()
    a, b = pair_on_two_shards(routed, "routed")
    run_with_clients(routed, lambda make: chat_both_ways(make, a, b, "routed"))


def test_direct_links_carry_everything_while_the_routers_are_frozen(linked):
    a, b = pair_on_two_shards(linked, "frozen")    # xmppctl needs a live router
    for r in ROUTERS:
        linked.procs[r].send_signal(signal.SIGSTOP)
    try:
        time.sleep(3.5)     # past the nodes' 3 s router deadline: no router is live
        run_with_clients(linked, lambda make: chat_both_ways(make, a, b, "frozen"))
    finally:
        for r in ROUTERS:
            linked.procs[r].send_signal(signal.SIGCONT)


def test_a_killed_sm_comes_back_and_its_links_reconnect(linked):
    a, b = pair_on_two_shards(linked, "revived")
    victim = shard_of(b)
    linked.procs[victim].kill()
    linked.procs[victim].wait(10)
    linked.restart_node(victim)

    # The other nodes reconnect their links to the new process; until then
    # envelopes go through the routers, so this works at once.
    run_with_clients(linked, lambda make: chat_both_ways(make, a, b, "revived"))


def test_batches_queued_for_a_killed_router_go_through_the_other(routed):
    """Both users' slots are even, so bus_pick sends their stanzas through
    router.0. Kill it and send at once: the nodes still count it live for
    3 s, so the stanzas wait in its batch, which goes to router.1 once
    router.0 is declared dead. Every message arrives, in order."""
    def even_user(prefix):
        while True:
            j = f"{prefix}{next(_numbers)}@{routed.domain}"
            if slot_of(j) % 2 == 0:
                return j
    a = even_user("failovera")
    b = even_user("failoverb")
    while shard_of(b) == shard_of(a):
        b = even_user("failoverb")
    routed.add_user(a, PASSWORD)
    routed.add_user(b, PASSWORD)

    async def body(make):
        ca = await make(a).login()
        cb = await make(b).login()
        routed.procs["router.0"].kill()
        routed.procs["router.0"].wait(10)
        await asyncio.sleep(0.5)        # the links to it are gone (ZMQ_IMMEDIATE)
        for i in range(20):
            ca.send_message(cb.jid, f"after a2b {i}", mid=f"fa{i}")
            cb.send_message(ca.jid, f"after b2a {i}", mid=f"fb{i}")
        for i in range(20):
            check_chat(await cb.next_message(15), ca.jid, cb.jid, f"after a2b {i}", f"fa{i}")
            check_chat(await ca.next_message(15), cb.jid, ca.jid, f"after b2a {i}", f"fb{i}")
    try:
        run_with_clients(routed, body)
    finally:
        if routed.procs["router.0"].poll() is not None:
            routed.restart_node("router.0")
