"""A Redis server of the test's own, on a free loopback port, to stop and start."""

import shutil
import socket
import subprocess
import time

import pytest

#: Ports free_port() handed out in this process.
_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A loopback port free right now (bound to port 0, then released), and never
    one handed out before: the kernel may give a just-released port again, and
    two servers of one cluster would then clash."""
    while True:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


def redis_binary() -> str | None:
    """redis-server's path (Debian installs it outside a non-root PATH)."""
    return shutil.which("redis-server") or shutil.which(
        "redis-server", path="/usr/bin:/usr/sbin"
    )


class RedisServer:
    """redis-server without persistence, started and stopped by the test."""

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "RedisServer":
        self.process = subprocess.Popen(
            [redis_binary(), "--port", str(self.port), "--bind", "127.0.0.1"]
            + ["--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


@pytest.fixture
def redis_server():
    if not redis_binary():
        pytest.skip("redis-server is not installed")
    server = RedisServer().start()
    yield server
    server.stop()
