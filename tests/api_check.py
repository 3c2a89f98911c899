"""Schemathesis against the running app with its own OpenAPI document (.ci/run).

Usage: python -m tests.api_check [--database-url URL] [--max-examples N]

Starts gunicorn on a free port over a freshly migrated database (SQLite, or a
schema of the PostgreSQL database given), with the conversions API and the Stripe
webhook on, and runs ``st run`` on /api/openapi.json: no 5xx, no response that
breaks the document. Exits with schemathesis' status.
"""

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.api_check_hooks import SECRET
from tests.server import BIN, ROOT, fresh_database, gunicorn

API_KEY = "schemathesis-api-key-0123456789"
ENV = {
    "REFERRALS_API_KEY": API_KEY,
    "REFERRALS_STRIPE_WEBHOOK_SECRET": SECRET,
    "REFERRALS_RATELIMIT_API": "1000000 per minute",
}
#: What every response must satisfy (documented status, type, headers, body).
CHECKS = (
    "not_a_server_error,status_code_conformance,content_type_conformance,"
    "response_headers_conformance,response_schema_conformance"
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("TEST_DATABASE_URL"))
    parser.add_argument("--max-examples", type=int, default=25)
    args = parser.parse_args()
    if args.database_url:
        os.environ["TEST_DATABASE_URL"] = args.database_url
    else:
        os.environ.pop("TEST_DATABASE_URL", None)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        with (
            fresh_database(tmp, "api_check") as url,
            gunicorn(url, workers=2, log=tmp / "log", **ENV) as base,
        ):
            command = [
                str(BIN / "st"),
                "run",
                f"{base}/api/openapi.json",
                "--checks",
                CHECKS,
                "--max-examples",
                str(args.max_examples),
                "--phases",
                "examples,coverage,fuzzing",
                "--header",
                f"Authorization: Bearer {API_KEY}",
                "--generation-database",
                "none",
                "--seed",
                "17",
                "--no-color",
            ]
            hooks = os.environ | {"SCHEMATHESIS_HOOKS": "tests.api_check_hooks"}
            code = subprocess.run(command, cwd=ROOT, env=hooks, check=False).returncode
            log = (tmp / "log").read_text(errors="replace")
            if "Traceback" in log:
                print(log[-4000:], file=sys.stderr)
                code = code or 1
    return code


if __name__ == "__main__":
    sys.exit(main())
