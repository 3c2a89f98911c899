"""Hostile input on every route: never a 5xx, never a partial write."""

import os

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from referral_site.extensions import db
from tests import proof
from tests.conftest import login
from tests.routes import routes

NASTY = [
    "' OR 1=1 --",
    "'; DROP TABLE users; --",
    '" OR ""="',
    "{{ 7*7 }}",
    "{% for x in range(9**9) %}x{% endfor %}",
    "${7*7}",
    "<script>alert(1)</script>",
    "\x00",
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
VALUES = st.one_of(
    st.sampled_from(NASTY),
    st.text(max_size=300),
    st.integers().map(str),
    st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
)
FIELD_NAMES = st.sampled_from(
    [
        "name",
        "email",
        "password",
        "referral_code",
        "remember",
        "page",
        "next",
        "ref",
        "csrf_token",
        "code",
        "amount",
        "currency",
        "status",
        "reason",
        "kind",
        "range",
    ]
)
FORMS = st.dictionaries(
    FIELD_NAMES, st.one_of(VALUES, st.lists(VALUES, max_size=3)), max_size=8
)
JSON_BODIES = st.recursive(
    st.one_of(
        st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=50)
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.dictionaries(st.text(max_size=10), inner, max_size=5),
    ),
    max_leaves=20,
)
PATH_SEGMENTS = st.one_of(
    st.sampled_from(["ABCDEFGH", "1", "0", "-1"]),
    st.text(
        alphabet=st.characters(
            blacklist_categories=("Cs",), blacklist_characters="/?#"
        ),
        min_size=1,
        max_size=60,
    ),
)


def _row_counts() -> dict[str, int]:
    return {
        table.name: db.session.scalar(sa.select(sa.func.count()).select_from(table))
        for table in db.metadata.sorted_tables
    }


@pytest.fixture
def fuzz_app(make_app, make_user):
    app = make_app(REFERRALS_API_KEY="fuzz-key-" + "x" * 24)
    make_user("boss@example.com", "Boss", admin=True)
    make_user("ann@example.com", "Ann")
    return app


@pytest.mark.proof
@pytest.mark.parametrize("who", ["anonymous", "user", "admin"])
def test_no_route_answers_5xx_or_half_writes_to_hostile_input(fuzz_app, who):
    targets = [(e, p, sorted(m)) for e, p, m in routes(fuzz_app)]
    client = fuzz_app.test_client()
    if who != "anonymous":
        login(client, "boss@example.com" if who == "admin" else "ann@example.com")
    tried, server_errors = [], []

    @settings(
        max_examples=int(os.environ.get("FUZZ_EXAMPLES", "60")),
        deadline=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
        ],
        database=None,
    )
    @given(
        target=st.sampled_from(targets),
        form=FORMS,
        query=FORMS,
        body=JSON_BODIES,
        segment=PATH_SEGMENTS,
        as_json=st.booleans(),
    )
    def attempt(target, form, query, body, segment, as_json):
        endpoint, path, methods = target
        path = path.replace("ABCDEFGH", segment.replace("/", ""))
        for method in methods:
            with fuzz_app.app_context():
                before = _row_counts()
            kwargs = {"json": body} if as_json else {"data": form}
            response = client.open(path, method=method, query_string=query, **kwargs)
            tried.append(1)
            if response.status_code >= 500:
                server_errors.append((endpoint, method))
            assert response.status_code < 500, (endpoint, method, response.status_code)
            if response.status_code >= 400:
                with fuzz_app.app_context():
                    assert _row_counts() == before, (endpoint, method)

    try:
        attempt()
    finally:
        proof.record("hostile_inputs_tried", len(tried))
        proof.record("hostile_inputs_5xx", len(server_errors))


def test_stored_markup_is_escaped_on_every_page(app, make_user):
    from tests.conftest import signup

    make_user("boss@example.com", "Boss", admin=True)
    _, code = make_user("ann@example.com", "<script>alert('ann')</script>")
    hostile = "<img src=x onerror=alert(1)>{{7*7}}"
    signup(app.test_client(), email="x@example.com", name=hostile, code=code)
    expectations = {
        ("ann@example.com", "/referrals"): "&lt;img src=x onerror=alert(1)&gt;{{7*7}}",
        (
            "boss@example.com",
            "/admin",
        ): "&lt;script&gt;alert(&#39;ann&#39;)&lt;/script&gt;",
    }
    for (email, page), escaped in expectations.items():
        client = app.test_client()
        login(client, email)
        text = client.get(page).get_data(as_text=True)
        assert escaped in text, page
        assert "<script>alert" not in text and "<img src=x" not in text
