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
from tests.stripe_events import SECRET, event, post, stripe_object

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
    app = make_app(
        REFERRALS_API_KEY="fuzz-key-" + "x" * 24,
        REFERRALS_STRIPE_WEBHOOK_SECRET=SECRET,
    )
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


#: The types the webhook handles, and some it does not.
STRIPE_TYPES = st.sampled_from(
    [
        "checkout.session.completed",
        "checkout.session.async_payment_succeeded",
        "invoice.paid",
        "invoice_payment.paid",
        "customer.created",
        "charge.refunded",
        "refund.created",
        "refund.updated",
        "charge.dispute.created",
        "charge.dispute.closed",
        "customer.subscription.deleted",
        "price.created",
    ]
)
STRIPE_RESOURCES = st.sampled_from(
    ["checkout.session", "invoice", "charge", "refund", "dispute", "subscription"]
)
STRIPE_FIELDS = st.sampled_from(
    [
        "id", "object", "amount", "amount_total", "amount_paid", "amount_refunded",
        "currency", "mode", "payment_status", "payment_intent", "charge", "invoice",
        "customer", "client_reference_id", "metadata", "billing_reason", "status",
        "reason", "parent", "refunds", "subscription", "created", "customer_details",
        "status_transitions", "payment", "ended_at",
    ]
)  # fmt: skip


@pytest.mark.proof
def test_signed_junk_on_the_stripe_webhook_never_answers_5xx(fuzz_app, make_user):
    """Signed events of Stripe's shapes with hostile values in their fields."""
    make_user("bob@example.com", "Bob")
    client = fuzz_app.test_client()
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
        event_type=STRIPE_TYPES,
        resource=STRIPE_RESOURCES,
        changes=st.dictionaries(
            STRIPE_FIELDS,
            st.one_of(JSON_BODIES, VALUES, st.integers(-(2**70), 2**70)),
            max_size=8,
        ),
        top=st.dictionaries(
            st.sampled_from(["id", "livemode", "created", "type", "data"]),
            JSON_BODIES,
            max_size=1,
        ),
    )
    def attempt(event_type, resource, changes, top):
        body = event(event_type, stripe_object(resource, **changes)) | top
        with fuzz_app.app_context():
            before = _row_counts()
        response = post(client, body)
        tried.append(1)
        if response.status_code >= 500:
            server_errors.append(event_type)
        assert response.status_code < 500, (event_type, response.get_json())
        assert response.is_json
        if response.status_code >= 400:
            with fuzz_app.app_context():
                assert _row_counts() == before, event_type

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
