"""A real local cluster for the integration tests.

Cluster.start() makes a cluster directory with ops/lib/mkvar (the same code
ops/run uses: config with free loopback ports, self-signed certificate),
starts Redis, 2 routers, 2 storage workers, 2 sm shards and 2 c2s from
$XMPP_BUILD_DIR/bin, and waits until each process has logged "ready" and
the client port accepts connections. Cluster.stop() sends SIGTERM to
everything and returns a list of problems: a process that did not exit 0
(or had to be killed), a sanitizer report in a log.
"""

import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ROUTERS = ["router.0", "router.1"]
OTHERS = ["sw.0", "sw.1", "sm.0", "sm.1", "c2s.0", "c2s.1"]
SERVER_NODES = ROUTERS + OTHERS
C2S_NODES = ["c2s.0", "c2s.1"]
SM_SHARDS = ["sm.0", "sm.1"]
BINARY = {"router": "xmpp-router", "c2s": "xmpp-c2s", "sm": "xmpp-sm", "sw": "xmpp-storage-worker"}
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer")
STOP_GRACE = 10.0
# sm limits of the shared test cluster (conftest.py), small so that the
# limit tests of tests/integration/test_rfc6121_*.py stay fast.
SM_LIMITS = {"max_roster_items": 15, "max_offline": 5, "max_vcard_size": 16384, "max_private_size": 4096,
             "max_private_namespaces": 3, "max_privacy_lists": 3, "max_privacy_items": 5}

# <timestamp> <node> <level> [trace] message
LOG_LINE = re.compile(r"^(\S+) (\S+) (\S+) (?:\[[^\]]*\] )?(.*)$")


def build_dir():
    d = Path(os.environ.get("XMPP_BUILD_DIR", "build"))
    return d if d.is_absolute() else ROOT / d


def fnv1a32(data: bytes) -> int:
    h = 2166136261
    for b in data:
        h ^= b
        h = (h * 16777619) & 0xFFFFFFFF
    return h


def slot_of(bare_jid: str) -> int:
    return fnv1a32(bare_jid.encode("utf-8")) % 1024


def shard_of(bare_jid: str, shards=SM_SHARDS) -> str:
    return shards[slot_of(bare_jid) * len(shards) // 1024]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tcp_accepts(host, port, timeout=1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def redis_pong(port) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class ClusterError(Exception):
    pass


class Cluster:
    """One running cluster; see the module docstring."""

    def __init__(self, basedir: Path, domain="localhost", sm_config=None, direct=True, c2s_config=None):
        self.basedir = Path(basedir)
        self.domain = domain
        self.sm_config = dict(sm_config or {})   # extra sm.* keys written into the config
        self.direct = direct    # False: drop the config's direct links (routers only)
        self.c2s_config = dict(c2s_config or {})  # extra c2s.* keys
        self.bin = build_dir() / "bin"
        self.generation = 0
        self.procs = {}         # node -> Popen (plus "redis")
        self.var = None
        self._pwcount = 0

    # -- lifecycle -------------------------------------------------------
    def start(self, ready_timeout=60.0):
        for b in list(BINARY.values()) + ["xmppctl"]:
            if not os.access(self.bin / b, os.X_OK):
                raise ClusterError(f"missing {self.bin / b}: build first (XMPP_BUILD_DIR={build_dir()})")
        self.generation += 1
        self.var = self.basedir / f"cluster{self.generation}"
        out = subprocess.run(["bash", str(ROOT / "ops/lib/mkvar"), "--var", str(self.var),
                              "--port", "0", "--domain", self.domain],
                             capture_output=True, text=True, timeout=60)
        if out.returncode != 0:
            raise ClusterError(f"mkvar failed: {out.stderr}")
        vals = dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)
        self.config = Path(vals["config"])
        if self.sm_config:
            self._add_section_config("sm", self.sm_config)
        if self.c2s_config:
            self._add_section_config("c2s", self.c2s_config)
        if not self.direct:
            self._drop_direct_links()
        self.port = int(vals["client_port"])
        self.redis_port = int(vals["redis_port"])
        self.cert = self.var / "cert.pem"
        self.logdir = self.var / "log"
        self.procs = {}
        try:
            self._start_redis()
            for n in ROUTERS:
                self._start_node(n)
            self.wait_ready(ROUTERS, ready_timeout)
            for n in OTHERS:
                self._start_node(n)
            self.wait_ready(OTHERS, ready_timeout)
            deadline = time.monotonic() + 10
            while not tcp_accepts("127.0.0.1", self.port):
                self._check_alive("before the client port accepted connections")
                if time.monotonic() > deadline:
                    raise ClusterError(f"nothing accepts connections on 127.0.0.1:{self.port}")
                time.sleep(0.05)
        except BaseException:
            self.stop()
            raise

    def _add_section_config(self, section, keys):
        """Add keys to the `section:` mkvar wrote."""
        text = self.config.read_text()
        anchor = f"\n{section}:\n"
        if anchor not in text:
            raise ClusterError(f"no '{section}:' section in {self.config}")
        lines = "".join(f"  {k}: {v}\n" for k, v in keys.items())
        self.config.write_text(text.replace(anchor, anchor + lines, 1))

    def _drop_direct_links(self):
        """Remove the 'direct:' block mkvar wrote: every envelope then goes
        through a router."""
        text = self.config.read_text()
        new = re.sub(r"\ndirect:\n(?:  .*\n)+", "\n", text, count=1)
        if new == text:
            raise ClusterError(f"no 'direct:' block in {self.config}")
        self.config.write_text(new)

    def restart_node(self, node, ready_timeout=30.0):
        """Start a node that was stopped or killed, and wait for its 'ready'."""
        since = self.log_offsets()
        self._start_node(node)
        deadline = time.monotonic() + ready_timeout
        while not self.find_log(node, r"ready\b", since):
            self._check_alive(f"while restarting {node}")
            if time.monotonic() > deadline:
                raise ClusterError(f"{node} did not log 'ready' after a restart\n" + self.log_tail(node))
            time.sleep(0.05)

    def _start_redis(self):
        log = open(self.logdir / "redis.log", "ab")
        self.procs["redis"] = subprocess.Popen(
            ["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", str(self.var / "redis"),
             "--daemonize", "no", "--logfile", ""],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + 10
        while not redis_pong(self.redis_port):
            if self.procs["redis"].poll() is not None or time.monotonic() > deadline:
                raise ClusterError("Redis did not start:\n" + self.log_tail("redis"))
            time.sleep(0.05)

    def _start_node(self, node):
        binary = self.bin / BINARY[node.split(".")[0]]
        log = open(self.logdir / f"{node}.log", "ab")
        self.procs[node] = subprocess.Popen(
            [str(binary), "-c", str(self.config), "-n", node],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        log.close()

    def wait_ready(self, nodes, timeout):
        deadline = time.monotonic() + timeout
        pending = list(nodes)
        while pending:
            self._check_alive("during startup")
            pending = [n for n in pending if not self.find_log(n, r"ready\b")]
            if not pending:
                return
            if time.monotonic() > deadline:
                raise ClusterError("did not log 'ready' within %ss: %s\n%s" % (
                    timeout, ", ".join(pending), "\n".join(self.log_tail(n) for n in pending)))
            time.sleep(0.05)

    def _check_alive(self, when):
        dead = self.dead_nodes()
        if dead:
            raise ClusterError(f"exited {when}: " + ", ".join(
                f"{n} (status {self.procs[n].returncode})" for n in dead) + "\n" +
                "\n".join(self.log_tail(n) for n in dead))

    def dead_nodes(self):
        return [n for n, p in self.procs.items() if p.poll() is not None]

    def stop(self):
        """SIGTERM everything (c2s/sm/sw, then routers, then Redis), SIGKILL
        after STOP_GRACE seconds. Returns a list of problems (strings)."""
        problems = []
        deadline = time.monotonic() + STOP_GRACE
        stages = [[n for n in OTHERS if n in self.procs], [n for n in ROUTERS if n in self.procs],
                  ["redis"] if "redis" in self.procs else []]
        for stage in stages:
            for n in stage:
                if self.procs[n].poll() is None:
                    self.procs[n].send_signal(signal.SIGTERM)
            for n in stage:
                try:
                    self.procs[n].wait(timeout=max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    pass
        for n, p in self.procs.items():
            if p.poll() is None:
                p.kill()
                p.wait()
                problems.append(f"{n} did not exit within {STOP_GRACE:.0f}s of SIGTERM (killed)")
            elif n != "redis" and p.returncode != 0:
                problems.append(f"{n} exited with status {p.returncode}\n{self.log_tail(n)}")
        problems += self.sanitizer_reports()
        self.procs = {}
        return problems

    # -- logs ------------------------------------------------------------
    def log_path(self, node) -> Path:
        return self.logdir / f"{node}.log"

    def log_text(self, node) -> str:
        try:
            return self.log_path(node).read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, node, lines=25) -> str:
        tail = self.log_text(node).splitlines()[-lines:]
        return f"--- last lines of {self.log_path(node)}:\n" + "\n".join("    " + l for l in tail)

    def sanitizer_reports(self):
        out = []
        for n in SERVER_NODES:
            text = self.log_text(n)
            for m in SANITIZER_MARKERS:
                i = text.find(m)
                if i >= 0:
                    out.append(f"{n}: sanitizer report ({m!r}) in {self.log_path(n)}:\n" +
                               text[max(0, i - 200):i + 3000])
                    break
        return out

    def log_offsets(self, nodes=SERVER_NODES):
        """Current sizes of the logs: pass to find_log(since=...) to see only
        what was logged afterwards."""
        return {n: (self.log_path(n).stat().st_size if self.log_path(n).exists() else 0) for n in nodes}

    def find_log(self, node, pattern, since=None):
        """The first log line of node (after offset since[node]) whose message
        matches the regex pattern (re.match, anchored at the start of the
        message); returns the match object or None."""
        rx = re.compile(pattern)
        try:
            with open(self.log_path(node), "rb") as f:
                if since:
                    f.seek(since.get(node, 0))
                data = f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return None
        for line in data.splitlines():
            m = LOG_LINE.match(line)
            if m and m.group(2) == node:
                mm = rx.match(m.group(4))
                if mm:
                    return mm
        return None

    async def wait_log(self, nodes, pattern, since=None, timeout=10.0):
        """Wait until one of nodes logs a message matching pattern; returns
        (node, match). Raises AssertionError after timeout seconds."""
        import asyncio
        deadline = time.monotonic() + timeout
        while True:
            for n in nodes:
                m = self.find_log(n, pattern, since)
                if m:
                    return n, m
            if time.monotonic() > deadline:
                raise AssertionError(f"no log line matching {pattern!r} from {nodes} within {timeout}s")
            await asyncio.sleep(0.05)

    # -- users -----------------------------------------------------------
    def password_file(self, password) -> Path:
        self._pwcount += 1
        p = self.var / f"pw{self._pwcount}.txt"
        p.write_text(password + "\n")
        p.chmod(0o600)
        return p

    def xmppctl(self, *args, password=None, timeout=30, stdin_text=None):
        """Run xmppctl -c <config> ARGS [--password-file F]; returns the
        CompletedProcess (text, stdout and stderr captured)."""
        cmd = [str(self.bin / "xmppctl"), "-c", str(self.config), *args]
        if password is not None:
            cmd += ["--password-file", str(self.password_file(password))]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              input=stdin_text, stdin=None if stdin_text is not None else subprocess.DEVNULL)

    def add_user(self, jid, password):
        r = self.xmppctl("user", "add", jid, password=password)
        assert r.returncode == 0, f"xmppctl user add {jid} failed ({r.returncode}): {r.stdout}{r.stderr}"
        return jid
