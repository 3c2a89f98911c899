"""gunicorn settings used by `make run`, the tests' servers and the benchmarks.

Command-line options (--workers, --bind...) still apply on top of this file.
"""


def worker_exit(server, worker):
    """Write the clicks a worker still buffers before it exits.

    gunicorn calls this in the worker after a graceful stop (SIGTERM, SIGINT), a
    restart (--max-requests, SIGHUP) or a timeout, so none of them loses a click.
    """
    from referral_site.referrals.visit_buffer import flush_all

    flush_all()
