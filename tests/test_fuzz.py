"""Hostile input on every route and the API: never a 5xx, never a partial write,
never a control character stored (forms: test_fuzz_forms.py)."""

from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests import hostile_values, proof
from tests.conftest import login
from tests.hostile_values import (
    API_KEY,
    BOUND_INTS,
    CARL,
    CONTROL_TEXT,
    CONTROLS,
    INTEGERS,
    JSON_BODIES,
    VALUES,
    assert_no_control_characters_stored,
    assert_sound,
    client_of,
    counts_of,
    fuzz_settings,
    row_counts,
    spoiled,
    unique,
)
from tests.routes import fill_path, integer_arguments, route_rules
from tests.stripe_events import event, post, stripe_object

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
        "reward_ids",
    ]
)
FORMS = st.dictionaries(
    FIELD_NAMES, st.one_of(VALUES, st.lists(VALUES, max_size=3)), max_size=8
)
PATH_SEGMENTS = st.one_of(
    st.sampled_from(["ABCDEFGH", "1", "0", "-1"]),
    CONTROL_TEXT.filter(bool),
    INTEGERS.map(str),
    st.text(
        alphabet=st.characters(
            blacklist_categories=("Cs",), blacklist_characters="/?#"
        ),
        min_size=1,
        max_size=60,
    ),
)

#: The fixture (an admin, Ann, Carl, rewards, a flagged referral).
fuzz_app = hostile_values.fuzz_app


@pytest.mark.proof
@pytest.mark.parametrize("who", ["anonymous", "user", "admin"])
def test_no_route_answers_5xx_or_half_writes_to_hostile_input(fuzz_app, who):
    targets = [(e, r, sorted(m)) for e, r, m in route_rules(fuzz_app)]
    client = client_of(fuzz_app, who)
    tried, server_errors = [], []

    @fuzz_settings()
    @given(
        target=st.sampled_from(targets),
        form=FORMS,
        query=FORMS,
        body=JSON_BODIES,
        data=st.data(),
        as_json=st.booleans(),
    )
    def attempt(target, form, query, body, data, as_json):
        endpoint, rule, methods = target
        integers = integer_arguments(rule)
        values = {
            name: data.draw(INTEGERS if name in integers else PATH_SEGMENTS)
            for name in rule.arguments
        }
        path = fill_path(rule, values)
        for method in methods:
            before = counts_of(fuzz_app)
            kwargs = {"json": body} if as_json else {"data": form}
            response = client.open(path, method=method, query_string=query, **kwargs)
            tried.append(1)
            if response.status_code >= 500:
                server_errors.append((endpoint, method))
            assert_sound(fuzz_app, response, before, (endpoint, method, path))

    try:
        attempt()
    finally:
        proof.record("hostile_inputs_tried", len(tried))
        proof.record("hostile_inputs_5xx", len(server_errors))
    assert_no_control_characters_stored(fuzz_app)


@pytest.mark.proof
@pytest.mark.parametrize("who", ["anonymous", "user", "admin"])
def test_every_route_survives_every_bound_and_control_character(fuzz_app, who):
    """Not left to chance: each route, each method, each integer argument at and
    past every column bound, each text argument with each control character."""
    client = client_of(fuzz_app, who)
    tried, server_errors = 0, []
    for endpoint, rule, methods in route_rules(fuzz_app):
        integers = integer_arguments(rule)
        texts = set(rule.arguments) - integers
        cases = [
            dict.fromkeys(integers, n) | dict.fromkeys(texts, "ch_1")
            for n in BOUND_INTS
        ]
        cases += [
            dict.fromkeys(integers, 1) | dict.fromkeys(texts, f"a{c}b")
            for c in CONTROLS
        ]
        for values in cases if rule.arguments else ():
            path = fill_path(rule, values)
            for method in sorted(methods):
                before = counts_of(fuzz_app)
                response = client.open(path, method=method, data={"reason": "r"})
                tried += 1
                if response.status_code >= 500:
                    server_errors.append((endpoint, method, path))
                assert_sound(fuzz_app, response, before, (endpoint, method, path))
    proof.record("hostile_inputs_tried", tried)
    proof.record("hostile_inputs_5xx", len(server_errors))
    assert tried > 100


def _conversion() -> dict:
    return {
        "email": CARL,
        "kind": "purchase",
        "amount": 1200,
        "currency": "EUR",
        "external_id": f"fuzz-{next(unique)}",
    }


@pytest.mark.proof
def test_every_api_field_survives_hostile_values(fuzz_app):
    """The conversions API with one field hostile, or the refund's path: a value
    of any shape, or a valid one with a control character in it."""
    client = fuzz_app.test_client()
    auth = {"Authorization": f"Bearer {API_KEY}"}
    tried, server_errors = [], []
    names = [*_conversion(), "occurred_at", "refund path"]

    @fuzz_settings()
    @given(
        name=st.sampled_from(names),
        data=st.data(),
        hostile=st.one_of(st.none(), VALUES, INTEGERS, JSON_BODIES),
    )
    def attempt(name, data, hostile):
        body = _conversion()
        typical = "ch_1" if name == "refund path" else body.get(name, "2026-01-31")
        value = spoiled(data, str(typical)) if hostile is None else hostile
        before = counts_of(fuzz_app)
        if name == "refund path":
            path = f"/api/conversions/{quote(str(value), safe='/')}/refund"
            response = client.post(path, headers=auth)
        else:
            response = client.post(
                "/api/conversions", json=body | {name: value}, headers=auth
            )
        tried.append(1)
        if response.status_code >= 500:
            server_errors.append(name)
        assert_sound(fuzz_app, response, before, (name, value))

    try:
        attempt()
    finally:
        proof.record("hostile_inputs_tried", len(tried))
        proof.record("hostile_inputs_5xx", len(server_errors))
    assert_no_control_characters_stored(fuzz_app)


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

    @fuzz_settings()
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
            before = row_counts()
        response = post(client, body)
        tried.append(1)
        if response.status_code >= 500:
            server_errors.append(event_type)
        assert response.status_code < 500, (event_type, response.get_json())
        assert response.is_json
        if response.status_code >= 400:
            with fuzz_app.app_context():
                assert row_counts() == before, event_type

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
