"""What seed-demo generates: the plan, and the seeded draws of ids, codes and times."""

import random
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from referral_site.referrals.attribution.codes import ALPHABET, CODE_LENGTH
from referral_site.referrals.fraud.models import ReferralCode
from referral_site.referrals.storage.db import db
from referral_site.referrals.storage.models import (
    Conversion,
    Referral,
    ReferralAccount,
    Reward,
    utcnow,
)

#: The password of every seeded account (the admin is admin@example.com).
DEMO_PASSWORD = "correct horse battery"  # noqa: S105 (documented demo data)
#: A multiplier coprime with len(ALPHABET) ** CODE_LENGTH: spreads ids over codes.
_CODE_STRIDE = 2_654_435_761


class SeedRefused(Exception):
    """The requested data cannot be seeded; the message says why."""


@dataclass(frozen=True)
class SeedPlan:
    """What to seed: counts, the popular referrer's share, the time span, the batch."""

    users: int
    referrals: int
    clicks: int
    conversions: int
    top_referrals: int
    days: int = 180
    batch: int = 10_000
    seed: int = 1

    def check(self) -> None:
        """Refuse plans that cannot be seeded (one referred user per referral)."""
        if self.referrals > self.users - 2:
            raise SeedRefused(
                "--users must exceed --referrals by at least 2 (an admin and a "
                "referrer; each referral needs its own referred user)."
            )
        if self.conversions > self.referrals:
            raise SeedRefused("--conversions cannot exceed --referrals.")
        if self.top_referrals > self.referrals:
            raise SeedRefused("--top-referrals cannot exceed --referrals.")


def demo_code(user_id: int) -> str:
    """A distinct, random-looking code per user id, from the codes' alphabet."""
    space = len(ALPHABET) ** CODE_LENGTH
    number = (user_id * _CODE_STRIDE) % space
    digits = []
    for _ in range(CODE_LENGTH):
        number, digit = divmod(number, len(ALPHABET))
        digits.append(ALPHABET[digit])
    return "".join(digits)


class Seeder:
    """Draws one plan's rows: ids (assigned here, from first_id), referrers, times."""

    def __init__(self, plan: SeedPlan, progress: Callable[[int], None]) -> None:
        self.plan = plan
        self.progress = progress
        # Reproducible demo data, not secrets: a seeded PRNG is the point.
        self.rng = random.Random(plan.seed)  # noqa: S311  # nosec B311
        self.now = utcnow()
        self.users = current_app.extensions["referrals"].user_model.__table__
        self.password_hash = _demo_password_hash()
        self.first_user = _next_id(self.users)
        self.first_referral = _next_id(Referral.__table__)
        self.first_conversion = _next_id(Conversion.__table__)
        self.first_reward = _next_id(Reward.__table__)
        # Users [first_user, first_referred) refer; the rest are referred.
        self.first_referred = self.first_user + plan.users - plan.referrals
        self.conversions_left = plan.conversions
        self.top_left = plan.top_referrals

    def referrer_id(self) -> int:
        """A skewed draw: the popular referrer by its share, others by a power law."""
        if self.rng.random() < self.plan.top_referrals / max(self.plan.referrals, 1):
            return self.first_user + 1
        return self._other_referrer()

    def referrer_of(self, index: int) -> int:
        """Referral `index`'s referrer: the popular one gets exactly its count."""
        left = self.plan.referrals - index
        if self.rng.random() * left < self.top_left:
            self.top_left -= 1
            return self.first_user + 1
        return self._other_referrer()

    def _other_referrer(self) -> int:
        # Users after the admin and the popular referrer; low ids refer the most.
        others = self.first_referred - self.first_user - 2
        if others <= 0:
            return self.first_user + 1
        return self.first_user + 2 + int(others * self.rng.random() ** 3)

    def moment(self, after: datetime | None = None) -> datetime:
        """A time within the plan's span (and after `after`, when given)."""
        start = after or self.now - timedelta(days=self.plan.days)
        span = (self.now - start).total_seconds()
        return start + timedelta(seconds=span * self.rng.random())

    def user_row(self, user_id: int, created_at: datetime) -> dict:
        """The host's user row: the columns its table has of these."""
        row = {"id": user_id}
        admin = user_id == self.first_user and self.first_user == 1
        extra = {
            "created_at": created_at,
            "email": "admin@example.com" if admin else f"user{user_id}@example.com",
            "name": "Admin" if admin else f"Demo user {user_id}",
            "password_hash": self.password_hash,
            "session_token": secrets.token_urlsafe(24),
            "is_admin": admin,
        }
        row.update({k: v for k, v in extra.items() if k in self.users.c})
        return row

    def account_rows(
        self, rows: dict, user_id: int, created_at: datetime, referred_by: int | None
    ) -> None:
        """Add a user, their referral account and their code to the batch's rows."""
        account = {
            "user_id": user_id,
            "code": demo_code(user_id),
            "referred_by_id": referred_by,
            "created_at": created_at,
        }
        rows[self.users].append(self.user_row(user_id, created_at))
        rows[ReferralAccount.__table__].append(account)
        rows[ReferralCode.__table__].append(
            {
                "code": account["code"],
                "user_id": user_id,
                "is_primary": True,
                "created_at": created_at,
            }
        )


def _demo_password_hash() -> str | None:
    """The one hash every seeded user shares (hashing a million is not the point)."""
    user = current_app.extensions["referrals"].user_model()
    if not hasattr(user, "set_password"):
        return None
    user.set_password(DEMO_PASSWORD)
    return user.password_hash


def _next_id(table: sa.Table) -> int:
    return (db.session.scalar(sa.select(sa.func.max(table.c.id))) or 0) + 1


def batches(total: int, size: int) -> Iterator[range]:
    """Ranges of at most `size` indexes covering range(total), in order."""
    for start in range(0, total, size):
        yield range(start, min(start + size, total))
