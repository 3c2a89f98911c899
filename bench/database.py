"""The benchmark's database: a fresh SQLite file, or a fresh PostgreSQL schema."""

import subprocess
from pathlib import Path

import sqlalchemy as sa

from bench.servers import BIN, ROOT, site_environment

DATA = ROOT / "bench" / ".data"


def fresh_database(name: str, postgres_url: str | None) -> str:
    """A migrated, empty database URL named `name` (file or schema)."""
    DATA.mkdir(parents=True, exist_ok=True)
    if not postgres_url:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{DATA / name}.db{suffix}").unlink(missing_ok=True)
        url = f"sqlite:///{DATA / name}.db"
    else:
        base = postgres_url.replace("postgresql://", "postgresql+psycopg://", 1)
        engine = sa.create_engine(base)
        with engine.begin() as connection:
            connection.execute(sa.text(f"DROP SCHEMA IF EXISTS {name} CASCADE"))
            connection.execute(sa.text(f"CREATE SCHEMA {name}"))
        engine.dispose()
        separator = "&" if "?" in base else "?"
        url = f"{base}{separator}options=-csearch_path%3D{name}"
    flask("db", "upgrade", url=url)
    return url


def flask(*args: str, url: str) -> None:
    """Run a `flask --app wsgi` command against the database at url."""
    subprocess.run(
        [str(BIN / "flask"), "--app", "wsgi", *args],
        cwd=ROOT,
        env=site_environment(url),
        check=True,
        stdout=subprocess.DEVNULL,
    )


def seed(url: str, **counts: int) -> None:
    """seed-demo with the given counts (progress bar on the terminal)."""
    options = [f"--{key.replace('_', '-')}={value}" for key, value in counts.items()]
    flask("referrals", "seed-demo", *options, url=url)


def count_visits(url: str) -> int:
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        visits = connection.scalar(sa.text("SELECT count(*) FROM visits"))
    engine.dispose()
    return visits


def server_version(url: str) -> str:
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            version = connection.scalar(sa.text("SHOW server_version"))
            name = "PostgreSQL"
        else:
            version = connection.scalar(sa.text("SELECT sqlite_version()"))
            name = "SQLite"
    engine.dispose()
    return f"{name} {version}"
