"""Hostile values for the fuzz tests, the app they run against, and their checks.

The strategies carry control characters (NUL first of all) and integers at and
past the bounds of every integer column (SMALLINT, INTEGER, BIGINT, and SQLite's
64 bits), besides injections and random text.
"""

import itertools
import os

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from referral_site.extensions import db
from referral_site.referrals.input_checks import has_control_characters
from referral_site.referrals.rewards.conversions import record_conversion
from tests.conftest import get_user, login
from tests.stripe_events import SECRET as STRIPE_SECRET

NASTY = [
    "' OR 1=1 --",
    "'; DROP TABLE users; --",
    '" OR ""="',
    "{{ 7*7 }}",
    "{% for x in range(9**9) %}x{% endfor %}",
    "${7*7}",
    "<script>alert(1)</script>",
    "\x00",
    "a\x00@b.c",
    "\u202e\u0000\ufeff",
    "../../../../etc/passwd",
    "%s%s%s%n",
    "A" * 10_000,
    "🙂" * 500,
    "-1",
    "99999999999999999999999",
    "1e309",
    "NaN",
    "null",
    "[]",
    "{}",
]
#: Control characters: C0, DEL, C1 and the layout ones a field may refuse too.
CONTROLS = ["\x00", "\x01", "\x08", "\t", "\n", "\r", "\x1b", "\x1f", "\x7f", "\x85"]
#: NUL half of the time: PostgreSQL refuses it in text, SQLite stores it.
CONTROL = st.one_of(st.just("\x00"), st.sampled_from(CONTROLS))
#: Text with a control character somewhere in it.
CONTROL_TEXT = st.builds(
    lambda before, control, after: before + control + after,
    st.text(max_size=12),
    CONTROL,
    st.text(max_size=12),
)
#: The largest and smallest values of SMALLINT, INTEGER and BIGINT, one either side.
BOUND_INTS = sorted(
    {
        value + step
        for bits in (15, 31, 63)
        for value in (2**bits - 1, -(2**bits))
        for step in (-1, 0, 1)
    }
    | {0, 1, 2**64, 10**30}
)
INTEGERS = st.one_of(st.sampled_from(BOUND_INTS), st.integers())
VALUES = st.one_of(
    st.sampled_from(NASTY),
    CONTROL_TEXT,
    st.text(max_size=300),
    INTEGERS.map(str),
    st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
)
JSON_BODIES = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        INTEGERS,
        st.floats(),
        st.text(max_size=50),
        CONTROL_TEXT,
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.dictionaries(st.text(max_size=10), inner, max_size=5),
    ),
    max_leaves=20,
)


def spoiled(data, typical: str) -> str:
    """A typical value with a control character put somewhere in it: everything
    else about it passes, so only the control character can refuse it."""
    # A fixed range: the typical value may differ when Hypothesis replays.
    at = min(data.draw(st.integers(min_value=0, max_value=40)), len(typical))
    return typical[:at] + data.draw(CONTROL) + typical[at:]


API_KEY = "fuzz-key-" + "x" * 24
#: Ann's referral, from a disposable address: flagged, so the review forms show.
CARL = "carl@mailinator.com"
#: Whose session each kind of visitor has.
PEOPLE = {"anonymous": None, "user": "ann@example.com", "admin": "boss@example.com"}
#: Unique suffixes for emails and codes the fuzz types.
unique = itertools.count()


@pytest.fixture
def fuzz_app(make_app, make_user):
    """An admin, Ann, and Carl whom she referred and who bought: rewards, a
    flagged referral and the forms that act on them."""
    # Limits off: every example reaches the code behind them.
    app = make_app(
        REFERRALS_API_KEY=API_KEY,
        REFERRALS_STRIPE_WEBHOOK_SECRET=STRIPE_SECRET,
        RATELIMIT_ENABLED=False,
    )
    make_user("boss@example.com", "Boss", admin=True)
    _, code = make_user("ann@example.com", "Ann")
    make_user(CARL, "Carl", code=code)
    with app.app_context():
        record_conversion(
            get_user(app, CARL).id,
            kind="purchase",
            amount=4999,
            currency="USD",
            external_id="ch_1",
        )
    return app


def client_of(app, who: str):
    """A test client, signed in as the visitor's person if any."""
    client = app.test_client()
    if PEOPLE[who]:
        login(client, PEOPLE[who])
    return client


def fuzz_settings():
    """Examples per test from FUZZ_EXAMPLES (make proof sets 250)."""
    return settings(
        max_examples=int(os.environ.get("FUZZ_EXAMPLES", "60")),
        deadline=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
        ],
        database=None,
    )


def row_counts() -> dict[str, int]:
    """Rows per table, in one query (the fuzz tests ask before and after each
    request: one round trip instead of one a table)."""
    counts = sa.union_all(
        *(
            sa.select(sa.literal(table.name), sa.func.count()).select_from(table)
            for table in db.metadata.sorted_tables
        )
    )
    return {name: count for name, count in db.session.execute(counts)}


#: Written by a signed-in person's request whatever its answer (the device they
#: were seen on, fraud/sightings.py): not part of what a refused form may not write.
SEEN_ON_ANY_REQUEST = {"user_sightings"}


def counts_of(app) -> dict[str, int]:
    with app.app_context():
        counts = row_counts()
    return {name: n for name, n in counts.items() if name not in SEEN_ON_ANY_REQUEST}


def assert_sound(app, response, before: dict, where) -> None:
    """Never a 5xx; a refusal changed nothing."""
    assert response.status_code < 500, (where, response.status_code)
    if response.status_code >= 400:
        after = counts_of(app)
        changed = {
            name: (before[name], after[name])
            for name in after
            if after[name] != before.get(name)
        }
        assert not changed, (where, changed)


def assert_no_control_characters_stored(app) -> None:
    """No text column of any table holds a control character."""
    with app.app_context():
        for table in db.metadata.sorted_tables:
            texts = [c for c in table.columns if isinstance(c.type, sa.String)]
            rows = db.session.execute(sa.select(*texts)) if texts else ()
            for row in rows:
                for column, value in zip(texts, row, strict=True):
                    assert not (
                        isinstance(value, str) and has_control_characters(value)
                    ), (table.name, column.name, value)
