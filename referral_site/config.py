"""Configuration classes: defaults only. Secrets and URLs come from the environment."""

from datetime import timedelta

#: The development secret. ProductionConfig refuses to start with it (see create_app).
DEV_SECRET_KEY = "dev-only-secret-change-me"  # noqa: S105


class Config:
    """Defaults shared by every environment."""

    ENV_NAME = "development"
    SECRET_KEY = DEV_SECRET_KEY
    #: None means SQLite at instance/referral_site.db (resolved by create_app).
    SQLALCHEMY_DATABASE_URI: str | None = None
    SQLALCHEMY_ENGINE_OPTIONS: dict = {"pool_pre_ping": True}
    #: Milliseconds a SQLite writer waits for the lock before giving up.
    SQLITE_BUSY_TIMEOUT_MS = 10_000
    #: PostgreSQL statement timeout (ms): a stuck query ends in a clean 503.
    DATABASE_STATEMENT_TIMEOUT_MS = 15_000
    #: Client-side bounds (database.py), all below gunicorn's 30 s worker timeout:
    #: connecting, waiting for a pooled connection, an unanswered call (a hung
    #: server or network; 0 turns the watchdog off), unacknowledged data in TCP.
    DATABASE_CONNECT_TIMEOUT_S = 5
    DATABASE_POOL_TIMEOUT_S = 10
    DATABASE_CALL_TIMEOUT_S = 20
    DATABASE_TCP_USER_TIMEOUT_MS = 10_000
    #: Connections per worker process: pool_size kept open, max_overflow more at
    #: peaks (see docs/deployment.md for sizing against max_connections).
    DATABASE_POOL_SIZE = 5
    DATABASE_MAX_OVERFLOW = 10
    #: Number of trusted reverse proxies in front of the app (0: trust no header).
    PROXY_FIX_X_FOR = 0
    #: Register Flask-Migrate's `flask db`. gunicorn.conf.py turns it off in the
    #: workers, which never migrate, to spare each the memory Alembic takes.
    MIGRATIONS_CLI = True
    #: Clicks are written in batches about every second by a thread per worker;
    #: gunicorn.conf.py flushes them when a worker exits (see docs/performance.md).
    REFERRALS_VISIT_BUFFER_SECONDS = 1.0
    #: Anonymous clicks on referral links skip the per-request hooks; the security
    #: headers are WSGI middleware (security.py), so those responses carry them.
    REFERRALS_FAST_LINKS = True
    #: SQLite in WAL mode with BEGIN IMMEDIATE for writes: several gunicorn workers
    #: write at once on the embedded database.
    REFERRALS_TUNE_SQLITE = True
    #: The plugin's Alembic branch: the site's own history (up to 0008) made the
    #: plugin's tables, so the branch's first revision adopts them after it.
    REFERRALS_MIGRATIONS_DEPENDS_ON = "0008_referral_accounts"
    REFERRALS_MIGRATIONS_ADOPTED = True

    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = False
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_SECURE = False
    REMEMBER_COOKIE_DURATION = timedelta(days=30)
    PERMANENT_SESSION_LIFETIME = timedelta(days=14)
    WTF_CSRF_TIME_LIMIT = None  # token lives as long as the session

    #: Flask-Limiter's switch. Set explicitly: the limiter is one shared instance and
    #: would otherwise keep the last app's value.
    RATELIMIT_ENABLED = True
    #: Flask-Limiter: "memory://" is per worker; use redis://host:6379 for several.
    RATELIMIT_STORAGE_URI = "memory://"
    #: Send X-RateLimit-* and Retry-After headers.
    RATELIMIT_HEADERS_ENABLED = True
    #: When the limiter's storage (Redis) fails: "open" counts in each worker's
    #: memory until it returns, "closed" answers 503 (see docs/deployment.md).
    RATELIMIT_FAILURE_POLICY = "open"
    #: Bounds of each Redis call (seconds), far below the worker timeout.
    REDIS_TIMEOUT_S = 1.0
    #: Seconds /readyz waits for the database and Redis before calling them down.
    READYZ_TIMEOUT_S = 2.0

    #: Outgoing mail (Flask-Mailman, used by the plugin). Empty MAIL_SERVER: no
    #: email is sent, and the admin pages say so.
    MAIL_SERVER = ""
    MAIL_PORT = 25
    MAIL_USE_TLS = False
    MAIL_USE_SSL = False
    MAIL_USERNAME: str | None = None
    MAIL_PASSWORD: str | None = None
    #: The From address, e.g. "Referrals <referrals@example.com>".
    MAIL_DEFAULT_SENDER: str | None = None

    #: argon2id parameters; defaults are OWASP's first choice (19 MiB, t=2, p=1).
    PASSWORD_HASH_TIME_COST = 2
    PASSWORD_HASH_MEMORY_KIB = 19 * 1024
    PASSWORD_HASH_PARALLELISM = 1


class DevelopmentConfig(Config):
    """Local development: the built-in secret is allowed."""


class TestingConfig(Config):
    """Test runs: cheap password hashing, CSRF checked only where a test asks for it."""

    ENV_NAME = "testing"
    TESTING = True
    WTF_CSRF_ENABLED = False
    PASSWORD_HASH_TIME_COST = 1
    PASSWORD_HASH_MEMORY_KIB = 8
    SECRET_KEY = "testing-secret"  # noqa: S105
    #: Visits are written in their request, so a test can read them right away.
    REFERRALS_VISIT_BUFFER_SECONDS = 0
    #: No listening connection per test app; the tests of code changes turn it on.
    REFERRALS_CODE_CHANGES_LISTEN = False


class ProductionConfig(Config):
    """Production: secure cookies, and a real SECRET_KEY is required."""

    ENV_NAME = "production"
    SECRET_KEY = None
    SESSION_COOKIE_SECURE = True
    REMEMBER_COOKIE_SECURE = True
    REFERRALS_COOKIE_SECURE = True


CONFIGS = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}
