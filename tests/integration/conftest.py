"""Fixtures for the integration tests.

`cluster` (session scope) is a real cluster (Redis, 2 routers, 2 storage
workers, 2 sm shards, 2 c2s) from $XMPP_BUILD_DIR (default build/) on free
loopback ports in a temporary directory; see cluster.py. On teardown every
process gets SIGTERM and must exit 0, and no log may hold a sanitizer
report. After each test that used it, the cluster is checked: if a process
died or a sanitizer spoke, that test errors with the log, and the cluster
is restarted for the tests after it.

The sm limits are cluster.SM_LIMITS (small, for the limit tests).

`users` makes accounts with unique names; `client` is a factory of slixmpp
clients (see clients.Client); `arun` runs a test's coroutine in a fresh
event loop with a time limit and closes the clients it made.
"""

import asyncio
import contextlib
import itertools
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cluster import SM_LIMITS, Cluster, ClusterError  # noqa: E402
from clients import Client  # noqa: E402

PASSWORD = "s3cret pass!"


@contextlib.contextmanager
def running_cluster(basedir, **kw):
    """A started Cluster(basedir, **kw) for the with-block; the test fails
    if it does not start, or if stopping it finds problems."""
    c = Cluster(basedir, **kw)
    try:
        c.start()
    except ClusterError as e:
        pytest.fail(f"cluster did not start: {e}", pytrace=False)
    yield c
    problems = c.stop()
    assert not problems, "cluster shutdown:\n" + "\n".join(problems)


@pytest.fixture(scope="session")
def cluster(tmp_path_factory):
    with running_cluster(tmp_path_factory.mktemp("xmpp"), sm_config=SM_LIMITS) as c:
        yield c


@pytest.fixture(autouse=True)
def _cluster_health(request):
    yield
    if "cluster" not in request.fixturenames:
        return
    try:
        c = request.getfixturevalue("cluster")
    except BaseException:       # the cluster never started: already reported
        return
    if not c.procs:
        return
    if not c.dead_nodes() and not c.sanitizer_reports():
        return
    msg = c.stop()      # names the dead (their status and log) and the sanitizer reports
    try:
        c.start()
    except ClusterError as e:
        msg.append(f"restarting the cluster failed: {e}")
    pytest.fail("cluster broke during this test:\n" + "\n".join(msg), pytrace=False)


_user_numbers = itertools.count(1)


class Users:
    """Accounts on the cluster: add('alice') -> 'alice<N>@localhost'."""

    def __init__(self, cluster):
        self.cluster = cluster

    def unique(self, prefix):
        return f"{prefix}{next(_user_numbers)}@{self.cluster.domain}"

    def add(self, prefix, password=PASSWORD):
        return self.cluster.add_user(self.unique(prefix), password)


@pytest.fixture
def users(cluster):
    return Users(cluster)


class ClientFactory:
    """client(jid, password=PASSWORD, mech='SCRAM-SHA-256') -> Client (not
    yet logged in: `await c.login()`). Call it inside the test's coroutine;
    arun() closes every client made during the run."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.made = []

    def __call__(self, jid, password=PASSWORD, mech="SCRAM-SHA-256"):
        c = Client(self.cluster, jid, password, mech)
        self.made.append(c)
        return c

    async def close_all(self):
        made, self.made = self.made, []
        await asyncio.gather(*(c.close(timeout=3) for c in made), return_exceptions=True)


@pytest.fixture
def client(cluster):
    return ClientFactory(cluster)


@pytest.fixture
def arun(client):
    """arun(coro, timeout=120): run an async test body in a new event loop
    with a time limit; the clients it made are closed before the loop ends."""
    def _run(coro, timeout=120):
        async def main():
            try:
                return await asyncio.wait_for(coro, timeout)
            finally:
                await client.close_all()
        return asyncio.run(main())
    return _run
