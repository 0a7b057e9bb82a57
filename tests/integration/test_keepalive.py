"""XEP-0199 pings from the server: a bound session that is silent for
c2s.ping_interval seconds gets a ping; any answer keeps it; silence for
c2s.ping_timeout more seconds ends it with <connection-timeout/>, and
its contacts see it go unavailable."""

import time

import pytest

from clients import NS_CLIENT, RawClosed, RawStream, q, stream_error_condition
from conftest import PASSWORD, running_cluster

NS_PING = "urn:xmpp:ping"


@pytest.fixture(scope="module")
def pinging(tmp_path_factory):
    with running_cluster(tmp_path_factory.mktemp("ping"), c2s_config={"ping_interval": 1, "ping_timeout": 2}) as c:
        yield c


def next_ping(raw, timeout=5.0):
    el = raw.next(timeout=timeout)
    assert el.tag == q(NS_CLIENT, "iq") and el.get("type") == "get", el.tag
    assert el.find(q(NS_PING, "ping")) is not None, "not a ping"
    return el


def test_answered_pings_keep_the_session_silence_ends_it(pinging):
    jid = f"pinged{time.monotonic_ns()}@{pinging.domain}"
    pinging.add_user(jid, PASSWORD)
    raw = RawStream(pinging.port)
    try:
        full = raw.login(pinging.cert, jid.split("@")[0], PASSWORD, resource="r")
        raw.send("<presence/>")
        raw.next(timeout=5)                      # own presence back
        for _ in range(2):
            t0 = time.monotonic()
            ping = next_ping(raw)
            assert ping.get("from") == pinging.domain and ping.get("to") == full, ping.attrib
            assert 0.5 <= time.monotonic() - t0 <= 4, "about one ping interval of silence"
            raw.send(f"<iq type='result' id='{ping.get('id')}' to='{pinging.domain}'/>")
        # now stay silent: one more ping, then the stream error
        next_ping(raw)
        t0 = time.monotonic()
        el = raw.next(timeout=6)
        assert stream_error_condition(el) == "connection-timeout", el.tag
        assert 1 <= time.monotonic() - t0 <= 5
        raw.wait_closed(timeout=5)
    except RawClosed as e:
        raise AssertionError(f"closed too early: {e}") from None
    finally:
        raw.close()
