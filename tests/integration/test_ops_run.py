"""ops/run: starts a working cluster in the foreground, stops it on SIGTERM
leaving no process behind."""

import asyncio
import os
import queue
import re
import shlex
import signal
import subprocess
import threading
import time
import types
from pathlib import Path

from clients import Client
from cluster import ROOT, SERVER_NODES, build_dir, free_port

READY = re.compile(r"^xmppd ready: (\S+) on 127\.0\.0\.1:(\d+) — add a user: (.+)$")


def proc_stat(pid):
    """(ppid, state) of a process, or None if it is gone."""
    try:
        s = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = s[s.rindex(")") + 2:].split()
    return int(fields[1]), fields[0]


def alive(pid):
    st = proc_stat(pid)
    return st is not None and st[1] != "Z"


def all_pids():
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def cmdline(pid):
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def descendants(root_pid):
    children = {}
    for pid in all_pids():
        st = proc_stat(pid)
        if st:
            children.setdefault(st[0], []).append(pid)
    out, todo = [], [root_pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def cluster_pids(var, redis_port, exclude=()):
    """Processes that belong to the cluster in var: the var dir in their
    command line, or Redis on its port (Redis rewrites its title)."""
    marks = (str(var), f"redis-server 127.0.0.1:{redis_port}")
    return [p for p in all_pids() if p not in exclude and alive(p)
            and any(m in cmdline(p) for m in marks)]


def test_ops_run_serves_and_stops_cleanly(tmp_path):
    var = tmp_path / "var"
    port = free_port()
    errlog = open(tmp_path / "ops-run.stderr", "w+")
    proc = subprocess.Popen(
        [str(ROOT / "ops/run"), "--no-build", "--build-dir", str(build_dir()),
         "--var", str(var), "--port", str(port)],
        cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errlog,
        text=True, start_new_session=True)
    lines = queue.Queue()
    threading.Thread(target=lambda: [lines.put(l) for l in proc.stdout], daemon=True).start()

    def stderr_text():
        errlog.flush()
        return (tmp_path / "ops-run.stderr").read_text()

    try:
        deadline = time.monotonic() + 120
        ready = None
        while ready is None:
            try:
                line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"ops/run printed no ready line in 120 s; stderr:\n{stderr_text()}")
            ready = READY.match(line.rstrip("\n"))
            assert ready or time.monotonic() < deadline, stderr_text()
        assert proc.poll() is None, f"ops/run exited {proc.returncode}:\n{stderr_text()}"
        assert ready.group(1) == "localhost" and int(ready.group(2)) == port, ready.group(0)
        cmd = shlex.split(ready.group(3))
        assert cmd[1:] == ["-c", cmd[2], "user", "add", "alice@localhost"], cmd
        assert Path(ROOT, cmd[2]).resolve() == (var / "cluster.yaml").resolve()

        for node in SERVER_NODES:
            assert (var / "log" / f"{node}.log").exists(), f"no log for {node}"

        pw = tmp_path / "pw"
        pw.write_text("alice pw\n")
        r = subprocess.run(cmd + ["--password-file", str(pw)], cwd=ROOT, capture_output=True,
                           text=True, timeout=30, stdin=subprocess.DEVNULL)
        assert r.returncode == 0, f"{cmd} failed: {r.stdout}{r.stderr}"

        info = types.SimpleNamespace(port=port, cert=var / "cert.pem")

        async def login():
            c = Client(info, "alice@localhost/desktop", "alice pw")
            await c.login()
            try:
                assert c.jid == "alice@localhost/desktop"
            finally:
                await c.close()
        asyncio.run(asyncio.wait_for(login(), 60))

        redis_port = re.search(r"^redis:\n(?:  .*\n)*?  port: (\d+)", (var / "cluster.yaml").read_text(),
                               re.M).group(1)
        before = set(descendants(proc.pid)) | set(cluster_pids(var, redis_port, exclude={proc.pid}))
        names = " ".join(cmdline(p) for p in before)
        for b in ("xmpp-router", "xmpp-c2s", "xmpp-sm", "xmpp-storage-worker", "redis-server"):
            assert b in names, f"no {b} among the processes of ops/run: {names}"

        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"ops/run still running 20 s after SIGTERM:\n{stderr_text()}")
        took = time.monotonic() - t0
        assert rc == 0, f"ops/run exited {rc} after SIGTERM:\n{stderr_text()}"
        assert took < 12, f"ops/run took {took:.1f}s to stop"
        left = [p for p in before if alive(p)] + cluster_pids(var, redis_port)
        assert not left, "left behind: " + "; ".join(f"{p}: {cmdline(p)}" for p in set(left))
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        errlog.close()
