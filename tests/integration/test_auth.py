"""Stream negotiation, STARTTLS, SASL and resource conflicts."""

import asyncio

import pytest

from clients import (NS_BIND, NS_SASL, NS_STREAM, NS_TLS, LoginFailed, RawStream, q,
                     stream_error_condition)
from conftest import PASSWORD


def mechanisms(features):
    mechs = features.find(q(NS_SASL, "mechanisms"))
    return [] if mechs is None else [m.text for m in mechs.findall(q(NS_SASL, "mechanism"))]


def test_features_before_tls_require_starttls_and_hide_plain(cluster):
    s = RawStream(cluster.port)
    try:
        header = s.open()
        assert header.tag == q(NS_STREAM, "stream")
        assert header.get("from") == cluster.domain
        assert header.get("version") == "1.0"
        assert header.get("id"), "stream header without an id"
        f = s.features()
        starttls = f.find(q(NS_TLS, "starttls"))
        assert starttls is not None, "no <starttls/> before TLS"
        assert starttls.find(q(NS_TLS, "required")) is not None, "<starttls/> without <required/>"
        assert "PLAIN" not in mechanisms(f), "PLAIN offered before TLS"
    finally:
        s.close()


def test_features_after_tls_offer_scram_and_plain(cluster):
    s = RawStream(cluster.port)
    try:
        s.open()
        s.features()
        f = s.starttls(cluster.cert)
        assert f.find(q(NS_TLS, "starttls")) is None, "<starttls/> offered again after TLS"
        mechs = mechanisms(f)
        for m in ("SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"):
            assert m in mechs, f"{m} not offered after TLS (offered: {mechs})"
        assert s.sock.version() in ("TLSv1.2", "TLSv1.3")
    finally:
        s.close()


@pytest.mark.parametrize("mech", ["SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"])
def test_login_with(mech, cluster, users, client, arun):
    jid = users.add("login")

    async def body():
        c = await client(f"{jid}/m", mech=mech).login()
        assert c.jid == f"{jid}/m"
        assert c.tls_version in ("TLSv1.2", "TLSv1.3")
        pong = await c.iq("get", "<ping xmlns='urn:xmpp:ping'/>", to=cluster.domain)
        assert pong.get("type") == "result"

    arun(body())


@pytest.mark.parametrize("mech", ["SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"])
def test_wrong_password_is_not_authorized(mech, cluster, users, client, arun):
    jid = users.add("wrongpw")

    async def body():
        with pytest.raises(LoginFailed) as e:
            await client(jid, password="not the password", mech=mech).login()
        assert e.value.condition == "not-authorized", str(e.value)

    arun(body())


def test_unknown_user_is_not_authorized(cluster, users, client, arun):
    async def body():
        with pytest.raises(LoginFailed) as e:
            await client(users.unique("ghost"), mech="SCRAM-SHA-256").login()
        assert e.value.condition == "not-authorized", str(e.value)

    arun(body())


def test_raw_plain_failure_is_exact(cluster, users):
    jid = users.add("rawfail")
    s = RawStream(cluster.port)
    try:
        s.open()
        s.features()
        s.starttls(cluster.cert)
        res = s.auth_plain(jid.split("@")[0], "bad password")
        assert res.tag == q(NS_SASL, "failure"), res.tag
        conds = [c.tag for c in res if c.tag != q(NS_SASL, "text")]
        assert conds == [q(NS_SASL, "not-authorized")], conds
        # The right password still works on the same connection.
        res = s.auth_plain(jid.split("@")[0], PASSWORD)
        assert res.tag == q(NS_SASL, "success"), res.tag
    finally:
        s.close()


def test_server_generated_resource(cluster, users):
    jid = users.add("genres")
    s = RawStream(cluster.port)
    try:
        s.open()
        s.features()
        s.starttls(cluster.cert)
        assert s.auth_plain(jid.split("@")[0], PASSWORD).tag == q(NS_SASL, "success")
        s.open()
        f = s.features()
        assert f.find(q(NS_BIND, "bind")) is not None, "no <bind/> feature after SASL"
        s.send(f"<iq type='set' id='b1'><bind xmlns='{NS_BIND}'/></iq>")
        el = s.next()
        assert el.get("type") == "result" and el.get("id") == "b1"
        full = el.find(f"{q(NS_BIND, 'bind')}/{q(NS_BIND, 'jid')}").text
        assert full.startswith(jid + "/") and len(full) > len(jid) + 1, full
    finally:
        s.close()


def test_same_resource_replaces_old_session_with_conflict(cluster, users, client, arun):
    jid = users.add("twice")
    other = users.add("peer")

    async def body():
        first = await client(f"{jid}/same").login()
        second = client(f"{jid}/same")
        await second.login()
        assert second.jid == f"{jid}/same"
        err = await asyncio.wait_for(first.stream_errors.get(), 10)
        assert stream_error_condition(err) == "conflict", err
        await first.wait_disconnected()
        # Messages to the full JID now reach the new session.
        p = await client(other).login()
        p.send_message(f"{jid}/same", "who gets this", mid="c1")
        m = await second.next_message()
        assert m["body"] == "who gets this" and str(m["from"]) == p.jid
        assert first.messages.empty()

    arun(body())
