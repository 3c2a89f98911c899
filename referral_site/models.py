"""The site's user model and the Flask-Login loader."""

import secrets
from datetime import datetime

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column

from referral_site.extensions import db, login_manager
from referral_site.passwords import hash_password, needs_rehash, verify_password
from referral_site.referrals import UTCDateTime, utcnow


def new_session_token() -> str:
    """A random token that identifies one generation of a user's sessions."""
    return secrets.token_urlsafe(32)


class User(UserMixin, db.Model):
    """An account: signs in, refers others, may be an admin."""

    __tablename__ = "users"
    __table_args__ = (
        # The referral console's filter of disabled accounts.
        sa.Index("ix_users_disabled_at", "disabled_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Stored lower-cased, so uniqueness holds whatever case was typed.
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    is_admin: Mapped[bool] = mapped_column(default=False)
    #: What Flask-Login keeps in the session; rotating it ends every session.
    session_token: Mapped[str] = mapped_column(
        sa.String(64), unique=True, default=new_session_token
    )
    #: Indexed: the admin report counts new users by date range.
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, index=True
    )
    #: When the owner confirmed the address by its emailed link (None: not yet).
    email_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Set by an admin (`flask disable-user`): the account cannot sign in.
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def get_id(self) -> str:
        return self.session_token

    @hybrid_property
    def is_disabled(self) -> bool:
        """Disabled by an admin (the referral console reads it, in SQL too)."""
        return self.disabled_at is not None

    @is_disabled.inplace.expression
    @classmethod
    def _is_disabled_expression(cls):
        return cls.disabled_at.is_not(None)

    @property
    def is_active(self) -> bool:
        """Flask-Login refuses to sign in an inactive (disabled) account."""
        return self.disabled_at is None

    def set_password(self, password: str) -> None:
        """Hash and store a new password, and end every existing session."""
        self.password_hash = hash_password(password)
        self.rotate_session_token()

    def check_password(self, password: str) -> bool:
        return verify_password(self.password_hash, password)

    def password_needs_rehash(self) -> bool:
        return needs_rehash(self.password_hash)

    def rotate_session_token(self) -> None:
        self.session_token = new_session_token()

    def __repr__(self) -> str:
        return f"<User {self.id} {self.email}>"


#: The referral console's search by name: a prefix, whatever the case.
sa.Index("ix_users_name_lower", sa.func.lower(User.name))


@login_manager.user_loader
def load_user(session_token: str) -> User | None:
    """Find the enabled user whose current session token this is."""
    return db.session.scalar(
        sa.select(User).where(
            User.session_token == session_token, User.disabled_at.is_(None)
        )
    )
