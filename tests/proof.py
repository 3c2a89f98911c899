"""Figures a test run produced, collected for the proof report (`make proof`)."""

import json
import os
from pathlib import Path

FIGURES = Path(__file__).resolve().parent.parent / "test-artifacts" / "proof"


def database_label() -> str:
    return "postgresql" if os.environ.get("TEST_DATABASE_URL") else "sqlite"


def record(metric: str, value: int) -> None:
    """Add one measured figure (summed per metric and database by the report)."""
    FIGURES.mkdir(parents=True, exist_ok=True)
    line = json.dumps({"metric": metric, "db": database_label(), "value": int(value)})
    with open(FIGURES / f"figures-{os.getpid()}.jsonl", "a") as out:
        out.write(line + "\n")
