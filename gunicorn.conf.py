"""gunicorn settings used by `make run`, the tests' servers and the benchmarks.

Command-line options (--workers, --bind...) still apply on top of this file.
"""

import os

# Workers serve requests and never migrate: they skip Flask-Migrate and Alembic,
# ~10 MiB each (see MIGRATIONS_CLI in referral_site/config.py).
os.environ.setdefault("MIGRATIONS_CLI", "0")

#: A worker silent this long is killed. Every database and Redis call is bounded
#: well below it (DATABASE_CALL_TIMEOUT_S, REDIS_TIMEOUT_S), so an outage gives
#: 503s, not killed workers and lost clicks.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
#: On SIGTERM (a deploy), requests in flight get this long to finish.
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))

#: Load balancers' health checks, kept out of the access log.
HEALTH_PATHS = frozenset({"/healthz", "/readyz"})


class _SkipHealthChecks:
    """A logging filter dropping access-log lines of the health paths."""

    def filter(self, record) -> bool:
        atoms = record.args if isinstance(record.args, dict) else {}
        return atoms.get("U") not in HEALTH_PATHS


def post_worker_init(worker):
    """Leave what a worker loads at start out of garbage collection from now on.

    Modules, models and the app live as long as the worker; frozen, they are no
    longer walked by every collection of the oldest generation (on a signup that
    walk cost about 0.2 ms a request).
    """
    import gc
    import logging

    logging.getLogger("gunicorn.access").addFilter(_SkipHealthChecks())
    gc.collect()
    gc.freeze()


def worker_exit(server, worker):
    """Write the clicks a worker still buffers before it exits.

    gunicorn calls this in the worker after a graceful stop (SIGTERM, SIGINT), a
    restart (--max-requests, SIGHUP) or a timeout, so none of them loses a click.
    """
    from referral_site.referrals.capture.visit_buffer import flush_all

    flush_all()
