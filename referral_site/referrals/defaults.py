"""The plugin's settings, their defaults and how a configured value is read."""

#: Settings and their defaults; each is read from app.config as REFERRALS_<KEY>.
DEFAULTS: dict[str, object] = {
    #: Days a captured code stays valid for attribution (and the cookie's lifetime).
    "ATTRIBUTION_WINDOW_DAYS": 30,
    #: "first_touch" keeps the first code a visitor followed; "last_touch" the latest.
    "ATTRIBUTION_MODEL": "first_touch",
    #: Name of the signed cookie holding the captured code.
    "COOKIE_NAME": "ref",
    #: Name of the signed cookie holding the anonymous visitor id.
    "VISITOR_COOKIE_NAME": "ref_vid",
    #: Send the cookies over HTTPS only (on in the site's production config).
    "COOKIE_SECURE": False,
    #: Query parameter that captures a code on any page.
    "QUERY_PARAM": "ref",
    #: Where the blueprint is mounted ("" puts /r/<code>, /signup... at the root).
    "URL_PREFIX": "",
    #: Secret for hashing client IPs; empty means derived from SECRET_KEY.
    "IP_HASH_KEY": "",
    #: Rows per page on the user's and the admin's lists.
    "PAGE_SIZE": 25,
    #: Minimum password length on the signup form.
    "PASSWORD_MIN_LENGTH": 10,
    #: Template every plugin page extends: it must define the blocks ``title`` and
    #: ``content``, and load the plugin's CSS and JS with {{ referrals_assets() }}.
    "LAYOUT": "referrals/layout.html",
    #: Endpoint a visitor lands on after following a referral link.
    "LANDING_ENDPOINT": "referrals.signup",
    #: When the signup form's code differs from the cookie's: True uses the typed
    #: code, False keeps the cookie's (the typed one is then ignored).
    "TYPED_CODE_WINS": True,
    #: Velocity signals: more referred signups than these within the window flag.
    "VELOCITY_WINDOW_MINUTES": 60,
    "VELOCITY_MAX_PER_IP": 3,
    "VELOCITY_MAX_PER_REFERRER": 10,
    #: A refund this many days (or fewer) after the conversion flags the referral.
    "REFUND_SUSPICIOUS_DAYS": 14,
    #: Extra disposable email domains (comma or space separated), on top of the
    #: disposable-email-domains package's list.
    "EXTRA_DISPOSABLE_DOMAINS": "",
    #: Flask-Limiter limit strings, per client IP.
    "RATELIMIT_SIGNUP": "20 per hour",
    "RATELIMIT_LOGIN": "30 per minute;300 per hour",
    #: Unknown codes on /r/<code> and in ?ref= count (code guessing), together;
    #: valid links never do, but a client past it gets 429 for every code.
    "RATELIMIT_CODE_MISSES": "10 per minute;30 per hour",
    #: Failed API authentication (a missing or wrong key), per client IP; past it
    #: every API request from that client is 429, whatever key it sends.
    "RATELIMIT_API_AUTH_FAILURES": "10 per minute;50 per hour",
    #: For the conversion API (applied where that endpoint is registered).
    "RATELIMIT_API": "120 per minute",
    #: Visits older than this are purged by `referrals purge-visits` (rolled up first).
    "VISIT_RETENTION_DAYS": 90,
    #: Vanity codes: allowed length and how many codes (aliases) a user may hold.
    "VANITY_MIN_LENGTH": 4,
    "VANITY_MAX_LENGTH": 20,
    "MAX_CODES_PER_USER": 5,
    #: Extra words refused as vanity codes (comma or space separated).
    "RESERVED_CODES": "",
    #: Bearer key of the conversions API; empty turns the API off.
    "API_KEY": "",
    #: Reward rules: a list of mappings or its JSON; empty means the default program.
    "REWARD_RULES": "",
    #: Currency of fixed-amount rewards whose rule names none (ISO 4217).
    "DEFAULT_CURRENCY": "USD",
    #: Days a new reward is held before it can be approved (rules may override).
    "REWARD_HOLD_DAYS": 14,
    #: Seconds a process may keep using the attribution window and model of the
    #: program in force before asking the database whether a newer version was
    #: saved (signup and conversion always ask: one query).
    "PROGRAM_CHECK_SECONDS": 10,
    #: Seconds between batched writes of visits by a background thread per process;
    #: 0 writes each visit in its request. A hard kill loses at most this much, and
    #: the host must flush on worker exit (visit_buffer.flush_all; see the site's
    #: gunicorn.conf.py).
    "VISIT_BUFFER_SECONDS": 0.0,
    #: Seconds a code -> referrer lookup is cached per process (0: no cache). On
    #: PostgreSQL every process hears of code changes at once (LISTEN/NOTIFY, see
    #: capture/code_changes.py); this is the fallback when it cannot.
    "CODE_CACHE_SECONDS": 60,
    #: Listen for other processes' code changes (PostgreSQL LISTEN/NOTIFY, one
    #: connection per worker process): off, another worker's change reaches this
    #: one's cache only when the entry expires (CODE_CACHE_SECONDS).
    "CODE_CHANGES_LISTEN": True,
    #: Answer anonymous visitors' clicks on known codes before the app's request
    #: hooks (capture/fast_links.py; needs VISIT_BUFFER_SECONDS > 0): about twice the
    #: clicks per worker. Off by default: the host's own hooks skip those responses.
    "FAST_LINKS": False,
    #: Put the host's SQLite engines in WAL mode with a busy timeout, foreign keys
    #: and BEGIN IMMEDIATE for writes (storage/transactions.py). Off by default: the
    #: plugin leaves the host's engine alone; a SQLite host with concurrent writers
    #: should turn it on (the site does).
    "TUNE_SQLITE": False,
    #: Register the plugin's own signup page and its password-confirmed account
    #: deletion. A host with its own registration turns it off, calls
    #: attribute_signup() in its signup and forget_user() when deleting a user, and
    #: points LANDING_ENDPOINT at its own page.
    "AUTH_VIEWS": True,
    #: The plugin's Alembic branch (storage/branch.py): the host's revision that
    #: creates its user table (the branch runs after it), and whether the host's
    #: own history already made the plugin's tables (then they are left as they are).
    "MIGRATIONS_DEPENDS_ON": "",
    "MIGRATIONS_ADOPTED": False,
    #: Smallest payout per currency, in minor units: a mapping or its JSON, e.g.
    #: {"USD": 5000}; a currency not listed is paid from its first minor unit.
    "PAYOUT_MINIMUM": "",
    #: Day of the month (1 to 28) payouts are made, shown to the people paid.
    "PAYOUT_DAY": 1,
    #: Stripe webhook signing secrets (whsec_...), comma-separated: all are valid
    #: at once, for rotation. Empty turns POST /api/billing/stripe off.
    "STRIPE_WEBHOOK_SECRET": "",
    #: Take live-mode events (True) or test-mode events (False), never both.
    "STRIPE_LIVEMODE": False,
    #: Largest webhook body accepted, in bytes.
    "STRIPE_MAX_BYTES": 262144,
    #: Metadata key (on the Checkout Session, subscription or customer) holding
    #: the host's user id.
    "STRIPE_METADATA_KEY": "referral_user_id",
    #: Tie a payment to the user with the customer's email when nothing else does.
    #: Off: Stripe does not verify the address a customer types at checkout.
    "STRIPE_MATCH_EMAIL": False,
    #: How a user is named, reached and recognised as an admin: an attribute name of
    #: the user model or a callable taking the model (for queries) or a user. Empty:
    #: the first of name, username, display_name, email; email; is_admin (if any).
    "USER_NAME": "",
    "USER_EMAIL": "",
    "USER_IS_ADMIN": "",
    #: Whether a user's email address is verified: an attribute (a time or a
    #: boolean) or a callable. Empty: email_verified_at, email_verified or
    #: confirmed_at if the model has one. Rules with verified_email need it.
    "USER_EMAIL_VERIFIED": "",
    #: The site's public address for links in emails (https://example.com); empty:
    #: the address of the request sending the email (a job needs it set).
    "EMAIL_BASE_URL": "",
    #: Minutes a password reset link stays valid; hours for a verification link.
    "PASSWORD_RESET_MINUTES": 60,
    "VERIFY_EMAIL_HOURS": 72,
    #: Hours the emailed link confirming a change of payout details stays valid.
    "PAYOUT_DETAILS_CONFIRM_HOURS": 24,
    #: Password reset and verification emails asked for per client IP.
    "RATELIMIT_EMAIL_LINKS": "5 per hour;20 per day",
    #: Minutes after which an email whose send never finished (its process died)
    #: is sent again by the next delivery of its event.
    "EMAIL_CLAIM_MINUTES": 10,
    #: Hour of the day (UTC) the task queue emails admins their digest.
    "EMAIL_DIGEST_HOUR": 8,
    #: Seconds an outbox consumer (or a webhook delivery) holds a claimed event:
    #: a worker that dies mid-way leaves it to be run again after this long.
    "OUTBOX_LEASE_SECONDS": 300,
    #: Runs of a failing outbox consumer on one event before it is given up.
    "OUTBOX_MAX_ATTEMPTS": 20,
    #: Days an event (with its deliveries and their log) is kept once every
    #: consumer and webhook is done with it (the daily purge job; 0 keeps all).
    "OUTBOX_RETENTION_DAYS": 30,
    #: Where background jobs are queued (jobs/queue.py): empty for a SQLite file
    #: in the instance folder (no server; `flask referrals worker` runs them),
    #: sqlite:///<file>, redis://host:6379/0 or postgresql://... to share them
    #: between hosts, "memory" (one process; the default when TESTING) or
    #: "immediate" (run on enqueue).
    "JOBS_URL": "",
    #: A process queues at most one dispatch job per this many seconds after
    #: commits that wrote events (jobs/wake.py); 0 queues one per commit.
    "JOBS_WAKE_UP_SECONDS": 0.25,
    #: Webhook request timeouts, in seconds.
    "WEBHOOK_CONNECT_TIMEOUT": 5.0,
    "WEBHOOK_READ_TIMEOUT": 10.0,
    #: Internal networks webhooks may call anyway (CIDRs, comma or space
    #: separated): private, loopback and link-local addresses are refused otherwise.
    "WEBHOOK_ALLOWED_NETWORKS": "",
    #: Deliveries sent at once by one dispatch job.
    "WEBHOOK_CONCURRENCY": 4,
    #: Hours the previous secret still signs deliveries after a rotation.
    "WEBHOOK_ROTATION_HOURS": 24,
    #: An endpoint whose every delivery failed for this long is turned off.
    "WEBHOOK_DISABLE_AFTER_HOURS": 72,
    #: Whether a user is disabled: an attribute (a hybrid property, so the admin
    #: console can filter on it in SQL) or a callable; empty: is_disabled if any.
    #: Disabling from the console also needs Referrals(set_user_disabled=...).
    "USER_IS_DISABLED": "",
}


def coerce(value: object, default: object) -> object:
    """Convert a string setting (from the environment) to the default's type."""
    if not isinstance(value, str) or isinstance(default, str):
        return value
    if isinstance(default, bool):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    if isinstance(default, int):
        return int(value)
    if isinstance(default, float):
        return float(value)
    return value
