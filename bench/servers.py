"""Start gunicorn (the site or a baseline) on a free loopback port; measure RSS."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def site_environment(database_url: str) -> dict:
    """The site's settings for a benchmark: limits high enough not to bite."""
    inherited = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("REFERRALS_", "FLASK_", "DATABASE_URL"))
    }
    return inherited | {
        "DATABASE_URL": database_url,
        "SECRET_KEY": "benchmark-secret",
        "FLASK_ENV": "development",
        # Every simulated visitor comes from 127.0.0.1.
        "REFERRALS_RATELIMIT_SIGNUP": "10000000 per hour",
        "REFERRALS_RATELIMIT_LOGIN": "10000000 per hour",
        "REFERRALS_RATELIMIT_CODE_MISSES": "10000000 per hour",
    }


@contextmanager
def gunicorn(app: str, *, workers: int, log: Path, env: dict):
    """Serve `app` (module:variable) until the block ends; yields (base URL, pid)."""
    port = free_port()
    command = [
        str(BIN / "gunicorn"),
        "--config",
        str(ROOT / "gunicorn.conf.py"),
        "--workers",
        str(workers),
        "--bind",
        f"127.0.0.1:{port}",
        "--timeout",
        "120",
        app,
    ]
    with open(log, "ab") as log_file:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT
        )
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_until_up(base, process)
            yield base, process.pid
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_until_up(base: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("gunicorn exited during start-up; see its log")
        try:
            urllib.request.urlopen(base + "/r/probe", timeout=5).close()
            return
        except urllib.error.HTTPError:
            return  # answering, whatever the status
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("gunicorn did not answer within 60 s")


def worker_rss_mib(master_pid: int) -> float:
    """The largest resident set of the master's workers, in MiB."""
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children")
    pids = children.read_text().split() if children.exists() else []
    sizes = []
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                sizes.append(int(line.split()[1]) / 1024)
    return max(sizes, default=0.0)


def log_problems(log: Path) -> int:
    """Lines of a server log that show a crash or a locked database."""
    text = log.read_text(errors="replace") if log.exists() else ""
    return sum(
        1
        for line in text.splitlines()
        if "Traceback" in line or "database is locked" in line or "[ERROR]" in line
    )
