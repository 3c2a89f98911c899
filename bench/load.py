"""Bounded load: wrk when installed (with a generated Lua script), else Python threads.

A scenario is a method, a list of paths (one drawn at random per request), headers
and, for POSTs, a form body in which ``{n}`` becomes a number unique to the request.
"""

import http.client
import http.cookiejar
import random
import re
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

#: A browser's user agent: the site does not count HTTP libraries' clicks.
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


@dataclass
class Scenario:
    """What one load run sends."""

    name: str
    paths: list[str]
    method: str = "GET"
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""


@dataclass(frozen=True)
class Result:
    """What one load run measured."""

    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def run(base: str, scenario: Scenario, *, seconds: float, connections: int) -> Result:
    """Drive the scenario against base for the given time."""
    if shutil.which("wrk"):
        return _run_wrk(base, scenario, seconds, connections)
    return _run_python(base, scenario, seconds, connections)


def tool() -> str:
    """Which load generator runs, with its version."""
    if not shutil.which("wrk"):
        return "Python threads (http.client keep-alive)"
    out = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout
    return out.splitlines()[0] if out else "wrk"


def _lua_string(text: str) -> str:
    return "[==[" + text + "]==]"


def _lua(scenario: Scenario, nonce: str) -> str:
    paths = ", ".join(_lua_string(p) for p in scenario.paths)
    headers = "".join(
        f"headers[ {_lua_string(k)} ] = {_lua_string(v)}\n"
        for k, v in ({"User-Agent": USER_AGENT} | scenario.headers).items()
    )
    return f"""
local paths = {{{paths}}}
local headers = {{}}
{headers}
local body = {_lua_string(scenario.body)}
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
local counter = 0
function init(args)
  math.randomseed(os.time() * 1000 + (tid or 0))
end
function request()
  counter = counter + 1
  local path = paths[math.random(#paths)]
  local unique = "{nonce}" .. "t" .. (tid or 0) .. "n" .. counter
  local filled = string.gsub(body, "{{n}}", unique)
  if filled == "" then filled = nil end
  return wrk.format("{scenario.method}", path, headers, filled)
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH %d %d %d %d %d\\n", summary.requests,
    summary.duration, latency:percentile(50), latency:percentile(99),
    e.status + e.connect + e.read + e.write + e.timeout))
end
"""


def _run_wrk(base, scenario, seconds, connections) -> Result:
    nonce = f"{random.getrandbits(32):08x}"
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(_lua(scenario, nonce))
    try:
        out = subprocess.run(
            [
                "wrk",
                f"-t{min(2, connections)}",
                f"-c{connections}",
                f"-d{seconds:g}s",
                "--timeout",
                "30s",
                "-s",
                script.name,
                base,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        Path(script.name).unlink()
    found = re.search(r"^BENCH (\d+) (\d+) (\d+) (\d+) (\d+)$", out, re.M)
    if not found:
        raise RuntimeError("wrk printed no summary:\n" + out)
    requests, micros, p50, p99, errors = map(int, found.groups())
    return Result(requests, micros / 1e6, p50 / 1000, p99 / 1000, errors)


def _run_python(base, scenario, seconds, connections) -> Result:
    host = urllib.parse.urlsplit(base)
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    deadline = time.monotonic() + seconds
    counter = iter(range(10**12))
    nonce = f"{random.getrandbits(32):08x}"

    def worker():
        conn = http.client.HTTPConnection(host.hostname, host.port, timeout=30)
        mine = []
        while time.monotonic() < deadline:
            path = random.choice(scenario.paths)
            body = scenario.body.replace("{n}", f"{nonce}p{next(counter)}") or None
            headers = {"User-Agent": USER_AGENT} | scenario.headers
            started = time.perf_counter()
            try:
                conn.request(scenario.method, path, body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                failed = response.status >= 400
            except OSError:
                conn.close()
                failed = True
            mine.append(time.perf_counter() - started)
            if failed:
                with lock:
                    errors[0] += 1
        with lock:
            latencies.extend(mine)

    started = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    cuts = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0] * 99
    return Result(len(latencies), elapsed, cuts[49] * 1000, cuts[98] * 1000, errors[0])


def fetch(base: str, path: str) -> tuple[int, list[str], bytes]:
    """One GET as a new visitor (browser agent, no cookies): status, cookies, body."""
    host = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(host.hostname, host.port, timeout=60)
    try:
        conn.request("GET", path, headers={"User-Agent": USER_AGENT})
        response = conn.getresponse()
        return (
            response.status,
            response.headers.get_all("Set-Cookie") or [],
            response.read(),
        )
    finally:
        conn.close()


class Client:
    """A cookie-keeping client to sign in or fetch a form before the load."""

    def __init__(self, base: str):
        self.base = base
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.cookies)
        )
        self.opener.addheaders = [("User-Agent", USER_AGENT)]

    def get(self, path: str) -> str:
        with self.opener.open(self.base + path, timeout=60) as response:
            return response.read().decode()

    def csrf_token(self, path: str) -> str:
        page = self.get(path)
        return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)[1]

    def post(self, path: str, data: dict) -> None:
        payload = urllib.parse.urlencode(data).encode()
        self.opener.open(self.base + path, data=payload, timeout=60).close()

    def login(self, email: str, password: str) -> "Client":
        token = self.csrf_token("/login")
        self.post("/login", {"email": email, "password": password, "csrf_token": token})
        return self

    def cookie_header(self) -> str:
        return "; ".join(f"{c.name}={c.value}" for c in self.cookies)
