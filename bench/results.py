"""Writing figures: the machine and versions, and sections of bench/RESULTS.md."""

import os
import platform
import re
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

from bench import load
from bench.servers import ROOT

RESULTS = ROOT / "bench" / "RESULTS.md"


def machine() -> str:
    """CPU, cores, memory and OS, one line."""
    cpu = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        found = re.search(r"model name\s*:\s*(.+)", cpuinfo.read_text())
        cpu = found[1].strip() if found else cpu
    memory = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        kib = int(re.search(r"MemTotal:\s*(\d+)", meminfo.read_text())[1])
        memory = f", {kib / 1024 / 1024:.1f} GiB RAM"
    return f"{cpu}, {os.cpu_count()} cores{memory}, {platform.platform()}"


def versions(database: str) -> str:
    """The versions that shape the figures."""
    packages = ["flask", "sqlalchemy", "gunicorn", "argon2-cffi", "psycopg"]
    listed = ", ".join(f"{name} {version(name)}" for name in packages)
    return f"Python {platform.python_version()}, {listed}, {database}, {load.tool()}"


def header(database: str) -> list[str]:
    return [
        f"- Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- Machine: {machine()}",
        f"- Versions: {versions(database)}",
    ]


def write_section(name: str, lines: list[str]) -> None:
    """Replace (or append) the section between this name's markers in RESULTS.md."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = "\n".join([start, *lines, end])
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    RESULTS.write_text(text)
