"""The program in force, cached per process and checked against the database.

Signup and conversion read the rules on every request, so the parsed program is
kept per process (per app) and the database is asked only for the latest version
number: one indexed read per request (``in_force``), or none at all within
REFERRALS_PROGRAM_CHECK_SECONDS for reads that can lag a little (the attribution
cookie's window and model, ``cached``). A save in this process replaces the cached
program at once; other processes see the new number on their next check. Saved
versions never change, so each is parsed at most once per process.
"""

import threading
import time

import sqlalchemy as sa
from flask import Flask, current_app, g, has_app_context

from referral_site.referrals.program import settings
from referral_site.referrals.program.models import ProgramVersion
from referral_site.referrals.program.settings import Program
from referral_site.referrals.storage.db import db

#: The latest saved version's number (0: none saved, the configuration's program).
_LATEST = sa.select(sa.func.coalesce(sa.func.max(ProgramVersion.id), 0))


class ProgramCache:
    """One app's program in force and the versions it has parsed."""

    def __init__(self, config_program: Program, check_seconds: float) -> None:
        self.check_seconds = check_seconds
        self._current = config_program
        self._versions: dict[int, Program] = {0: config_program}
        self._checked_at = float("-inf")
        self._lock = threading.Lock()

    def peek(self) -> Program:
        """The program last seen in force, without asking the database."""
        return self._current

    def in_force(self) -> Program:
        """The program in force now: one query per app context (request, job)."""
        checked = g.get("referrals_program")
        if checked is None:
            checked = g.referrals_program = self._check()
        return checked

    def cached(self) -> Program:
        """The program in force, checked at most every check_seconds (and at most
        once per app context, whichever of the two reads comes first)."""
        checked = g.get("referrals_program") if has_app_context() else None
        if checked is not None:
            return checked
        if time.monotonic() - self._checked_at > self.check_seconds:
            return self._check()
        return self._current

    def version(self, number: int | None) -> Program:
        """A version's program (None or 0: the configuration's), parsed once."""
        number = number or 0
        program = self._versions.get(number)
        if program is None:
            row = db.session.get(ProgramVersion, number)
            if row is None:
                raise LookupError(f"program version {number} does not exist")
            program = settings.from_version(
                row, default_currency=current_app.config["REFERRALS_DEFAULT_CURRENCY"]
            )
            with self._lock:
                self._versions[number] = program
        return program

    def saved(self, program: Program) -> None:
        """A version this process just committed: in force here from now on."""
        with self._lock:
            self._versions[program.version] = program
            self._current = program
            self._checked_at = time.monotonic()
        g.referrals_program = program

    def _check(self) -> Program:
        latest = db.session.scalar(_LATEST)
        if latest != self._current.version:
            self._current = self.version(latest)
        self._checked_at = time.monotonic()
        g.referrals_program = self._current  # this request asks no more
        return self._current


def init_app(app: Flask) -> None:
    """Check the configuration's program (a bad rule stops the app) and cache it."""
    app.extensions["referrals_program"] = ProgramCache(
        settings.from_config(app), app.config["REFERRALS_PROGRAM_CHECK_SECONDS"]
    )


def program_cache(app: Flask | None = None) -> ProgramCache:
    """The app's program cache (the current app's by default)."""
    return (app or current_app).extensions["referrals_program"]


def in_force() -> Program:
    """The program in force for this request or job."""
    return program_cache().in_force()
