"""Figures a test run produced, collected for the proof report (`make proof`)."""

import json
import os
from pathlib import Path

FIGURES = Path(__file__).resolve().parent.parent / "test-artifacts" / "proof"


def database_label() -> str:
    return "postgresql" if os.environ.get("TEST_DATABASE_URL") else "sqlite"


def record(metric: str, value: int, *, db: str | None = None) -> None:
    """Add one measured figure (summed per metric and database by the report).

    ``db`` names another column than the test database's: "cluster" for the
    multi-host suite (tests/test_cluster.py).
    """
    FIGURES.mkdir(parents=True, exist_ok=True)
    label = db or database_label()
    line = json.dumps({"metric": metric, "db": label, "value": int(value)})
    with open(FIGURES / f"figures-{os.getpid()}.jsonl", "a") as out:
        out.write(line + "\n")
