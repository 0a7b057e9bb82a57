"""xmppctl user add|del|passwd|list against the running cluster."""

import pytest

from clients import LoginFailed


async def login_fails(client, jid, password):
    with pytest.raises(LoginFailed) as e:
        await client(jid, password).login()
    assert e.value.condition == "not-authorized", str(e.value)


def test_user_lifecycle(cluster, users, client, arun):
    jid = users.unique("ctl")
    r = cluster.xmppctl("user", "add", jid, password="first-pw")
    assert r.returncode == 0, r.stdout + r.stderr

    r = cluster.xmppctl("user", "add", jid, password="other-pw")
    assert r.returncode == 1, f"duplicate add exited {r.returncode}: {r.stdout}{r.stderr}"
    out = (r.stdout + r.stderr).lower()
    assert "exist" in out and jid in out, f"unclear duplicate message: {r.stdout}{r.stderr}"

    r = cluster.xmppctl("user", "list")
    assert r.returncode == 0, r.stdout + r.stderr
    assert jid in r.stdout.split(), f"{jid} not listed: {r.stdout}"

    async def first():
        await client(jid, "first-pw").login()
        await login_fails(client, jid, "other-pw")
    arun(first())

    r = cluster.xmppctl("user", "passwd", jid, password="second-pw")
    assert r.returncode == 0, r.stdout + r.stderr

    async def second():
        await login_fails(client, jid, "first-pw")
        await client(jid, "second-pw", mech="SCRAM-SHA-1").login()
        await client(jid, "second-pw", mech="PLAIN").login()
    arun(second())

    r = cluster.xmppctl("user", "del", jid)
    assert r.returncode == 0, r.stdout + r.stderr
    r = cluster.xmppctl("user", "list")
    assert r.returncode == 0 and jid not in r.stdout.split(), r.stdout

    arun(login_fails(client, jid, "second-pw"))


def test_password_from_stdin(cluster, users, client, arun):
    jid = users.unique("stdin")
    r = cluster.xmppctl("user", "add", jid, stdin_text="piped password\n")
    assert r.returncode == 0, r.stdout + r.stderr

    async def body():
        await client(jid, "piped password").login()
    arun(body())


def test_list_shows_several_users(cluster, users):
    made = [users.add("many") for _ in range(3)]
    r = cluster.xmppctl("user", "list")
    assert r.returncode == 0, r.stderr
    listed = r.stdout.split()
    for jid in made:
        assert jid in listed, f"{jid} missing from: {r.stdout}"


def test_del_unknown_user_fails(cluster, users):
    r = cluster.xmppctl("user", "del", users.unique("never"))
    assert r.returncode != 0, r.stdout + r.stderr
