"""Saved versions of the program: each save is a new row, never an edit.

Version numbers follow each other: a save based on version n writes version n + 1,
and the primary key refuses a second n + 1, so two admins saving at once cannot
both win (the loser is told to reload). Version 0 is the configuration's program
(REFERRALS_REWARD_RULES...), in force until the first save; it is not stored.
"""

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from referral_site.referrals.storage.db import Base, user_key
from referral_site.referrals.storage.models import UTCDateTime, utcnow

#: The attribution models a program can use.
ATTRIBUTION_MODELS = ("first_touch", "last_touch")


class ProgramVersion(Base):
    """One saved program: rules, hold, attribution and the offer's wording."""

    __tablename__ = "referral_program_versions"
    __table_args__ = (
        sa.CheckConstraint("id > 0", name="version_positive"),
        sa.CheckConstraint("hold_days >= 0", name="hold_not_negative"),
        sa.CheckConstraint(
            "attribution_window_days > 0", name="attribution_window_positive"
        ),
        sa.CheckConstraint(
            "attribution_model IN ('first_touch', 'last_touch')",
            name="attribution_model_known",
        ),
    )

    #: The version number (1, 2, ...), set by the saving service, never drawn.
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    #: The reward rules as a JSON list, in the format of REFERRALS_REWARD_RULES.
    rules: Mapped[str] = mapped_column(sa.Text)
    hold_days: Mapped[int] = mapped_column(sa.Integer)
    attribution_window_days: Mapped[int] = mapped_column(sa.Integer)
    attribution_model: Mapped[str] = mapped_column(sa.String(20))
    #: The offer as told to referrers and to invited people; "" means worded from
    #: the rules (program/offer.py).
    referrer_offer: Mapped[str] = mapped_column(sa.String(300), default="")
    referred_offer: Mapped[str] = mapped_column(sa.String(300), default="")
    #: What changed from the version before, one change per line.
    changes: Mapped[str] = mapped_column(sa.Text, default="")
    created_by_id: Mapped[int | None] = user_key("SET NULL")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
