"""Flask extension instances, unbound: the app factory binds them with init_app."""

import math
import time

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

#: Stable constraint names, so Alembic (and SQLite batch migrations) can address them.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base shared by the site's and the plugin's models."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
# Flask-Migrate is bound by create_app, and imported only there: it loads Alembic
# (~10 MiB per process), which a serving worker never needs (MIGRATIONS_CLI).
login_manager = LoginManager()
csrf = CSRFProtect()
#: Per client IP. Storage comes from RATELIMIT_STORAGE_URI ("memory://" counts per
#: worker process; a redis:// URL shares the counts between workers and hosts).
#: Behind a reverse proxy, wrap the app in ProxyFix so remote_addr is the client's.
limiter = Limiter(key_func=get_remote_address)


def seconds_until_limit_resets() -> int | None:
    """Seconds until the limit this request breached lets the client in again."""
    current = limiter.current_limit
    if current is None:
        return None
    return max(1, math.ceil(current.reset_at - time.time()))
