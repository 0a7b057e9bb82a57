"""c2s.tls_record_takeover: false keeps OpenSSL's record layer for the
whole connection (the default, c2s protecting TLS 1.3 records itself, is
what every other test uses)."""

import pytest

from cluster import C2S_NODES
from conftest import running_cluster
from test_paths import chat_both_ways, pair_on_two_shards, run_with_clients


@pytest.fixture(scope="module")
def openssl_records(tmp_path_factory):
    with running_cluster(tmp_path_factory.mktemp("tlsrec"),
                         c2s_config={"tls_record_takeover": "false"}) as c:
        yield c


def test_openssl_keeps_the_records_when_takeover_is_off(openssl_records):
    for n in C2S_NODES:
        assert openssl_records.find_log(n, r"TLS records stay with OpenSSL"), \
            f"{n} did not say it keeps OpenSSL's record layer"
    a, b = pair_on_two_shards(openssl_records, "osslrec")

    async def body(make):
        await chat_both_ways(make, a, b, "ossl")
        c = make(a)
        await c.login()
        assert c.tls_version == "TLSv1.3", c.tls_version
    run_with_clients(openssl_records, body)
