"""Smoke run of the load generator (ops/bench/xmpp-bench) against the test
cluster: a few clients, a second or two, over STARTTLS as the cluster
requires. Not a benchmark: it checks that the generator logs every client
in, that every message it sends comes back exactly once to the right
client, that it reads the server's CPU from /proc, and that it prints one
JSON line."""

import json
import subprocess

import pytest

from cluster import build_dir
from conftest import PASSWORD

CLIENTS = 10


@pytest.fixture
def bench_accounts(cluster, users, tmp_path):
    """CLIENTS accounts <prefix>1..<prefix>CLIENTS; returns (prefix, password file)."""
    prefix = users.unique("bsm").split("@")[0] + "x"
    for i in range(1, CLIENTS + 1):
        cluster.add_user(f"{prefix}{i}@{cluster.domain}", PASSWORD)
    pw = tmp_path / "bench-password"
    pw.write_text(PASSWORD + "\n")
    return prefix, pw


def run_bench(cluster, prefix, pwfile, *args):
    binary = build_dir() / "bin" / "xmpp-bench"
    assert binary.exists(), f"{binary} is missing: build first"
    pids = ",".join(str(p.pid) for p in cluster.procs.values())
    cmd = [str(binary), "--port", str(cluster.port), "--domain", cluster.domain,
           "--tls", "starttls", "--user-prefix", prefix, "--password-file", str(pwfile),
           "--clients", str(CLIENTS), "--server-pids", pids, "--max-time", "90", *args]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    for marker in ("AddressSanitizer", "LeakSanitizer", "runtime error:"):
        assert marker not in r.stderr, f"sanitizer report from xmpp-bench:\n{r.stderr}"
    lines = r.stdout.splitlines()
    assert len(lines) == 1, f"expected one JSON line, got:\n{r.stdout}\n{r.stderr}"
    out = json.loads(lines[0])
    assert r.returncode == 0 and "error" not in out, f"xmpp-bench failed ({r.returncode}): {out}\n{r.stderr}"
    assert out["params"]["clients"] == CLIENTS
    assert out["server_procs"] == len(cluster.procs), out
    assert out["server_cpu_s"] >= 0 and out["gen_cpu_s"] > 0, out
    return out


def test_bench_login(cluster, bench_accounts):
    prefix, pw = bench_accounts
    out = run_bench(cluster, prefix, pw, "--scenario", "login", "--mech", "SCRAM-SHA-256",
                    "--concurrency", "5")
    assert out["logins_ok"] == CLIENTS and out["logins_failed"] == 0, out
    assert out["login_failures"] == {"total": 0}, out
    assert out["warmup_ok"] == CLIENTS, out
    assert out["scram_cache_misses_measured"] == 0, out    # keys cached by the warm-up
    assert out["login_latency"]["n"] == CLIENTS and out["login_latency"]["p99_ms"] > 0, out
    assert out["logins_per_s"] > 0, out


@pytest.mark.parametrize("load", [["--window", "2"], ["--rate", "200"]], ids=["flat-out", "rate"])
def test_bench_msg(cluster, bench_accounts, load):
    prefix, pw = bench_accounts
    out = run_bench(cluster, prefix, pw, "--scenario", "msg", "--duration", "1.5",
                    "--drain", "5", *load)
    assert out["logins_ok"] == CLIENTS and out["login_failures"] == {"total": 0}, out
    assert out["sent"] > 0 and out["delivered"] == out["sent"], out
    assert out["lost"] == 0 and out["duplicated"] == 0 and out["misrouted"] == 0, out
    assert out["errors"] == 0 and out["foreign"] == 0 and out["disconnects"] == 0, out
    assert out["latency"]["n"] == out["delivered"], out
    assert out["delivered_per_s"] > 0, out
