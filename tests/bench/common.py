"""Shared pieces of the benchmarks: pinned processes, wrk runs, RSS sampling."""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Iterable

import psutil
import requests

ROOT = Path(__file__).resolve().parents[2]
WRK = shutil.which("wrk") or "/usr/bin/wrk"
TASKSET = shutil.which("taskset")
CORES = os.cpu_count() or 1


def pinned(command: list[str], core: int | None) -> list[str]:
    """The command run on one core (taskset), when the machine has more than one and taskset exists."""
    if core is None or TASKSET is None or CORES < 2:
        return command
    return [TASKSET, "-c", str(core % CORES), *command]


def start_serve(
    instance, core: int | None, timeout: float = 30.0, profile: str | None = None
) -> subprocess.Popen:
    """`interpeople serve` for a harness Instance, optionally pinned to one core (and under cProfile)."""
    log = open(instance.log_path, "ab")
    python = [sys.executable] + (["-m", "cProfile", "-o", profile] if profile else [])
    instance.process = subprocess.Popen(
        pinned([*python, "-m", "server.cli", "--data", str(instance.data), "serve"], core),
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    wait_http(instance.url("/.well-known/nodeinfo"), instance.process, timeout, instance.log_path)
    return instance.process


def wait_http(
    url: str, process: subprocess.Popen, timeout: float = 30.0, log_path: Path | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: process exited " + (log_path.read_text()[-2000:] if log_path else ""))
        try:
            requests.get(url, timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")


def stop_process(process: subprocess.Popen | None) -> None:
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def rss_mb(process: psutil.Process, children: bool = False) -> float:
    total = process.memory_info().rss
    if children:
        for child in process.children(recursive=True):
            try:
                total += child.memory_info().rss
            except psutil.Error:
                pass
    return total / 1e6


class PeakRss:
    """Samples a process's RSS (alone, and with its children) in a thread until stopped."""

    def __init__(self, pid: int, interval: float = 0.01):
        self.process = psutil.Process(pid)
        self.interval = interval
        self.peak = 0.0
        self.peak_with_children = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, rss_mb(self.process))
                self.peak_with_children = max(self.peak_with_children, rss_mb(self.process, children=True))
            except psutil.Error:
                return
            time.sleep(self.interval)

    def __enter__(self) -> "PeakRss":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


WRK_SCRIPT = r"""
-- Replays pre-generated raw HTTP requests (length-prefixed, one file per wrk thread): each once
-- ("once"), or round and round ("cycle"). Counts answers whose status is `want_status` and whose
-- body contains `want_text`, and times them with a monotonic clock (wrk's own duration is always -d).
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clock, bench_timespec *tp);
]]
local ts = ffi.new("bench_timespec")
local function now()
  ffi.C.clock_gettime(1, ts)
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) * 1e-9
end

local counter = 0
local threads = {}

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  table.insert(threads, thread)
end

function init(args)
  local f = assert(io.open(args[1] .. "." .. id, "rb"))
  local data = f:read("*a")
  f:close()
  want_status = tonumber(args[2])
  want_text = args[3]
  cycle = args[4] == "cycle"
  reqs = {}
  local pos = 1
  while pos <= #data do
    local nl = data:find("\n", pos, true)
    local len = tonumber(data:sub(pos, nl - 1))
    reqs[#reqs + 1] = data:sub(nl + 1, nl + len)
    pos = nl + len + 1
  end
  sent = 0
  good = 0
  bad = 0
  exhausted = 0
  first = 0
  last = 0
end

function request()
  if first == 0 then first = now() end
  sent = sent + 1
  if sent > #reqs then
    if cycle then
      sent = 1
    else
      exhausted = 1
      sent = #reqs
      wrk.thread:stop()
    end
  end
  return reqs[sent]
end

function response(status, headers, body)
  last = now()
  if status == want_status and body:find(want_text, 1, true) then
    good = good + 1
  else
    bad = bad + 1
    if bad <= 3 then io.stderr:write("unexpected answer " .. status .. ": " .. body:sub(1, 200) .. "\n") end
  end
end

function done(summary, latency, requests)
  local good_total, bad_total, exhausted_any, seconds = 0, 0, 0, 0
  for _, thread in ipairs(threads) do
    good_total = good_total + thread:get("good")
    bad_total = bad_total + thread:get("bad")
    exhausted_any = math.max(exhausted_any, thread:get("exhausted"))
    seconds = math.max(seconds, thread:get("last") - thread:get("first"))
  end
  io.write(string.format("RESULT good=%d bad=%d duration_us=%d p50_us=%d p99_us=%d exhausted=%d\n",
    good_total, bad_total, seconds * 1e6, latency:percentile(50), latency:percentile(99), exhausted_any))
end
"""


def write_requests(prefix: Path, raw_requests: list[bytes], threads: int) -> None:
    """Splits raw requests over `threads` files, length-prefixed, for WRK_SCRIPT."""
    for t in range(threads):
        with open(f"{prefix}.{t + 1}", "wb") as out:
            for raw in raw_requests[t::threads]:
                out.write(b"%d\n" % len(raw))
                out.write(raw)


def run_wrk(
    url: str,
    prefix: Path,
    want_status: int,
    want_text: str,
    *,
    threads: int,
    connections: int,
    duration: float,
    core: int | None,
    cycle: bool = False,
) -> dict:
    """Runs wrk with WRK_SCRIPT; returns good/bad counts, duration (s), latency percentiles (ms), rate."""
    script = prefix.parent / "replay.lua"
    script.write_text(WRK_SCRIPT)
    command = pinned(
        [
            WRK,
            "-t",
            str(threads),
            "-c",
            str(connections),
            "-d",
            f"{duration:.0f}s",
            "--timeout",
            "30s",
            "-s",
            str(script),
            url,
            "--",
            str(prefix),
            str(want_status),
            want_text,
            "cycle" if cycle else "once",
        ],
        core,
    )
    done = subprocess.run(command, capture_output=True, text=True, timeout=duration + 120)
    match = re.search(
        r"RESULT good=(\d+) bad=(\d+) duration_us=(\d+) p50_us=(\d+) p99_us=(\d+) exhausted=(\d+)",
        done.stdout,
    )
    if not match:
        raise RuntimeError(f"wrk failed: {done.stdout}\n{done.stderr}")
    good, bad, duration_us, p50, p99, exhausted = map(int, match.groups())
    if done.stderr.strip():
        print(done.stderr.strip()[:600], file=sys.stderr)
    seconds = duration_us / 1e6
    return {
        "good": good,
        "bad": bad,
        "seconds": seconds,
        "rate": good / seconds,
        "p50_ms": p50 / 1000,
        "p99_ms": p99 / 1000,
        "exhausted": bool(exhausted),
    }


# ---------------------------------------------------------------- page latencies


def expect_ok(response: requests.Response) -> None:
    assert response.status_code == 200, (response.url, response.status_code, response.text[:200])


def timed_gets(
    urls: Iterable[str], headers: dict | None = None, check: Callable[[requests.Response], None] = expect_ok
) -> list[float]:
    """Seconds each GET took, one after another on one keep-alive session; every answer is checked."""
    session = requests.Session()
    session.headers.update(headers or {})
    samples = []
    for url in urls:
        started = time.perf_counter()
        response = session.get(url, timeout=30)
        samples.append(time.perf_counter() - started)
        check(response)
    return samples


def p50_p95(samples: list[float]) -> tuple[float, float]:
    """Median and 95th percentile (seconds)."""
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[max(0, int(len(ordered) * 0.95) - 1)]
