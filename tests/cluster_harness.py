"""Two app hosts behind HAProxy on loopback, with PostgreSQL and Redis: the recipe
of docs/deployment.md, started by `make cluster` for its test suite.

Each host is a gunicorn (two workers) and a job worker on the shared Redis queue,
with the environment of deploy/host.env.example; HAProxy runs deploy/haproxy.cfg
unchanged. Between the hosts and PostgreSQL sits a relay the tests cut and freeze;
Redis is a server of the suite's own, so it can be stopped. Run
``python -m tests.cluster_harness`` to start one and look around (Ctrl-C stops it).
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import gunicorn
import sqlalchemy as sa

from tests.redis_server import RedisServer, free_port
from tests.server import migrate
from tests.tcp_relay import TcpRelay

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
#: The shared secret settings every host must agree on (deploy/host.env.example).
SHARED = {
    "FLASK_ENV": "production",
    "SECRET_KEY": "cluster-suite-secret-0123456789abcdef",
    "REFERRALS_IP_HASH_KEY": "cluster-suite-ip-key",
    "REFERRALS_API_KEY": "cluster-suite-api-key",
    "PROXY_FIX_X_FOR": "1",
    "RATELIMIT_FAILURE_POLICY": "open",
}
#: Bounds shorter than production's, so each fault plays out in seconds.
BOUNDS = {
    "DATABASE_CONNECT_TIMEOUT_S": "2",
    "DATABASE_POOL_TIMEOUT_S": "3",
    "DATABASE_STATEMENT_TIMEOUT_MS": "2000",
    "DATABASE_CALL_TIMEOUT_S": "3",
    "REDIS_TIMEOUT_S": "0.5",
    "READYZ_TIMEOUT_S": "1",
    "DATABASE_POOL_SIZE": "2",
    "DATABASE_MAX_OVERFLOW": "2",
    # Cheap hashing, and every visitor comes from 127.0.0.1 through the proxy.
    "PASSWORD_HASH_TIME_COST": "1",
    "PASSWORD_HASH_MEMORY_KIB": "8",
    "REFERRALS_RATELIMIT_SIGNUP": "100000 per hour",
    "REFERRALS_RATELIMIT_LOGIN": "100000 per hour",
    "REFERRALS_RATELIMIT_CODE_MISSES": "10 per minute",
    "REFERRALS_FAST_LINKS": "1",
}


def haproxy_binary() -> str | None:
    return shutil.which("haproxy") or shutil.which(
        "haproxy", path="/usr/sbin:/usr/local/sbin"
    )


class Host:
    """One app host: a gunicorn master and its workers, in a process group."""

    def __init__(self, name: str, env: dict, logs: Path) -> None:
        self.name = name
        self.port = free_port()
        self.env = env
        self.access_log = logs / f"{name}-access.log"
        self.error_log = logs / f"{name}-error.log"
        self.process: subprocess.Popen | None = None
        #: The host's job worker (`flask referrals worker`), on the shared queue.
        self.jobs: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start_jobs(self, *, periodic: bool) -> None:
        """Run the host's job worker as the recipe does: the periodic jobs on one
        host only (``--no-periodic`` on the others)."""
        command = [str(BIN / "flask"), "--app", "wsgi", "referrals", "worker"]
        command += ["--periodic" if periodic else "--no-periodic"]
        with open(self.error_log.with_suffix(".jobs.log"), "w") as log:
            self.jobs = subprocess.Popen(
                command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )

    def stop_jobs(self) -> None:
        """SIGTERM: the worker finishes the jobs in progress, then exits."""
        if self.jobs is not None:
            self.jobs.terminate()
            self.jobs.wait(30)
            self.jobs = None

    def start(self) -> None:
        command = [str(BIN / "gunicorn"), "--config", "gunicorn.conf.py"]
        command += ["--workers", "2", "--bind", f"127.0.0.1:{self.port}"]
        command += ["--access-logfile", str(self.access_log)]
        command += ["--error-logfile", str(self.error_log), "wsgi:app"]
        if gunicorn.version_info >= (27,):  # each host its own control socket
            command[1:1] = [
                "--control-socket",
                str(self.access_log.with_suffix(".ctl")),
            ]
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=self.env, start_new_session=True
        )
        wait_for(self._answers, 30, self.name)

    def _answers(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"{self.name} exited; see {self.error_log}")
        return http_status(self.url + "/healthz") == 200

    def kill(self) -> None:
        """SIGKILL the master and its workers at once (a host lost)."""
        self._signal(signal.SIGKILL, 10)

    def stop(self) -> None:
        """SIGTERM: a graceful stop, requests in flight finish."""
        self._signal(signal.SIGTERM, 40)

    def _signal(self, signum: int, wait: float) -> None:
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signum)
        except ProcessLookupError:
            pass  # exited already
        self.process.wait(wait)
        self.process = None

    def worker_pids(self) -> set[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return {int(pid) for pid in children.read_text().split()}


class Cluster:
    """PostgreSQL (through a relay), Redis, two hosts and HAProxy."""

    def __init__(self, database_url: str, workdir: Path) -> None:
        self.database_url = database_url
        self.workdir = workdir
        self.redis = RedisServer()
        url = sa.engine.make_url(database_url)
        self.relay = TcpRelay(url.port or 5432, url.host or "127.0.0.1")
        relayed = url.set(host="127.0.0.1", port=self.relay.port)
        self.engine = sa.create_engine(database_url)
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("REFERRALS_", "FLASK_", "DATABASE_", "RATELIMIT_"))
        }
        self.env = env | SHARED | BOUNDS
        self.env["DATABASE_URL"] = relayed.render_as_string(hide_password=False)
        self.env["RATELIMIT_STORAGE_URI"] = self.redis.url
        # The recipe's shared job queue: the Redis of the limits, another database.
        self.env["REFERRALS_JOBS_URL"] = self.redis.url.rsplit("/", 1)[0] + "/1"
        # The suite's webhook receiver listens on loopback, which is refused by
        # default (webhooks must not reach into the internal network).
        self.env["REFERRALS_WEBHOOK_ALLOWED_NETWORKS"] = "127.0.0.1/32"
        self.hosts = [Host(name, self.env, workdir) for name in ("host1", "host2")]
        self.proxy_port = free_port()
        self.haproxy: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.proxy_port}"

    def start(self) -> "Cluster":
        try:
            self.redis.start()
            for index, host in enumerate(self.hosts):
                host.start()
                host.start_jobs(periodic=index == 0)
            self._start_haproxy()
            self.wait_until_serving()
        except BaseException:
            self.stop()  # nothing left running when a part fails to start
            raise
        return self

    def _start_haproxy(self) -> None:
        env = dict(os.environ) | {
            "HAPROXY_BIND": f"127.0.0.1:{self.proxy_port}",
            "APP_HOST1": f"127.0.0.1:{self.hosts[0].port}",
            "APP_HOST2": f"127.0.0.1:{self.hosts[1].port}",
            "HAPROXY_ADMIN_SOCKET": str(self.workdir / "haproxy.sock"),
        }
        self.haproxy = subprocess.Popen(
            [haproxy_binary(), "-db", "-f", str(ROOT / "deploy" / "haproxy.cfg")],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=open(self.workdir / "haproxy.log", "w"),  # noqa: SIM115
        )

    def wait_until_serving(self, seconds: float = 30) -> None:
        """Both hosts ready and HAProxy sending to both (its checks see them up)."""
        for host in self.hosts:
            if host.process is None:
                host.start()
        wait_for(lambda: self.servers_up() == 2, seconds, "HAProxy's servers up")

    def admin(self, command: str) -> str:
        """One command on HAProxy's admin socket (what docs/deployment.md runs)."""
        with socket.socket(socket.AF_UNIX) as admin:
            admin.connect(str(self.workdir / "haproxy.sock"))
            admin.sendall(command.encode() + b"\n")
            answer = b""
            while chunk := admin.recv(65536):
                answer += chunk
        return answer.decode()

    def servers_up(self) -> int:
        """How many hosts HAProxy has in rotation (from its admin socket)."""
        try:
            answer = self.admin("show stat")
        except OSError:
            return 0
        rows = [line.split(",") for line in answer.splitlines()]
        return sum(
            1
            for row in rows
            if len(row) > 17
            and row[0] == "hosts"
            and row[1].startswith("host")
            and row[17] == "UP"
        )

    def stop(self) -> None:
        if self.haproxy is not None:
            self.haproxy.terminate()
            self.haproxy.wait(10)
            self.haproxy = None
        for host in self.hosts:
            host.stop()
            host.stop_jobs()
        self.redis.stop()
        self.relay.close()
        self.engine.dispose()

    def jobs_running(self) -> list[bool]:
        """Whether each host's job worker is still running."""
        return [
            host.jobs is not None and host.jobs.poll() is None for host in self.hosts
        ]

    def server_errors(self, most: int = 3) -> str:
        """The hosts' 500 answers and tracebacks, for a failing assertion's message
        (the logs live in a temporary directory CI does not keep)."""
        lines = []
        for host in self.hosts:
            for log in (host.access_log, host.error_log):
                text = log.read_text(errors="replace") if log.exists() else ""
                lines += [
                    f"{log.name}: {line}"
                    for line in text.splitlines()
                    if '" 500 ' in line
                ]
                tracebacks = text.split("Traceback (most recent call last):")[1:]
                lines += [f"{log.name}: Traceback{tb}" for tb in tracebacks[-most:]]
        return "\n".join(lines) or "no 500 or traceback in the hosts' logs"

    def scalar(self, statement, **params):
        with self.engine.connect() as connection:
            return connection.execute(sa.text(statement), params).scalar()


def wait_for(predicate, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise TimeoutError(f"waited {seconds} s for {what}")


def http_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


def migrated_schema(base_url: str, schema: str = "cluster_suite") -> str:
    """A schema of our own in the database, emptied and migrated: its URL."""
    base = base_url.replace("postgresql://", "postgresql+psycopg://", 1)
    admin = sa.create_engine(base)
    with admin.begin() as connection:
        connection.execute(sa.text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        connection.execute(sa.text(f"CREATE SCHEMA {schema}"))
    admin.dispose()
    separator = "&" if "?" in base else "?"
    url = f"{base}{separator}options=-csearch_path%3D{schema}"
    migrate(url)
    return url


def drop_schema(base_url: str, schema: str = "cluster_suite") -> None:
    base = base_url.replace("postgresql://", "postgresql+psycopg://", 1)
    admin = sa.create_engine(base)
    with admin.begin() as connection:
        connection.execute(sa.text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
    admin.dispose()


def database_url() -> str | None:
    """The PostgreSQL database the suite may use (a schema of its own inside)."""
    return os.environ.get("CLUSTER_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")


def main() -> None:  # pragma: no cover - for people, not the suite
    import tempfile

    url = database_url()
    if not url:
        sys.exit("Set CLUSTER_DATABASE_URL to a PostgreSQL database to use.")
    with tempfile.TemporaryDirectory() as workdir:
        cluster = Cluster(migrated_schema(url), Path(workdir)).start()
        print(f"Serving on {cluster.url}; hosts:", [h.url for h in cluster.hosts])
        try:
            signal.pause()
        finally:
            cluster.stop()
            drop_schema(url)


if __name__ == "__main__":
    main()
