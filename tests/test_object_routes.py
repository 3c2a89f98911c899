"""Every route that names an object refuses another user's ids.

The URL map is walked: a new route with an id in its path fails this test until it
is either checked here with real ids of someone else's objects or listed, with its
reason, as public by design.
"""

import pytest
import sqlalchemy as sa

from referral_site.referrals.emails import tokens
from referral_site.referrals.emails.models import TokenPurpose
from referral_site.referrals.outbox import dispatch
from referral_site.referrals.rewards.conversions import record_conversion
from referral_site.referrals.storage.models import Referral, Reward
from referral_site.referrals.webhooks.models import WebhookDelivery
from tests import proof
from tests.conftest import get_user, login, scalar
from tests.routes import object_routes
from tests.webhook_helpers import add_endpoint

#: Routes meant to be opened by anyone, and why.
PUBLIC_BY_DESIGN = {
    "referrals.follow": "a referral link: the code is shared on purpose",
    # Links sent to a user's own address: holding the signed token is the right
    # (tests/test_emails.py and test_email_accounts.py refuse forged ones).
    "referrals.unsubscribe": "a signed one-click unsubscribe link from an email",
    "referrals.verify_email": "a signed, single-use verification link",
    "referrals.reset_password": "a signed, single-use password reset link",
}
#: Denials a wrong user may get: 401/403 for no right, 404 for "not yours" or none.
REFUSED = {401, 403, 404}


@pytest.fixture
def someone_elses_objects(app, make_user):
    """Ann refers Carl, Carl buys: the referral, rewards and conversion are theirs;
    the admins' webhook endpoint has a delivery of Carl's signup."""
    endpoint_id, _ = add_endpoint(app, "https://hooks.example.com/")
    ann_id, code = make_user("ann@example.com", "Ann")
    make_user("carl@example.com", "Carl", code=code)
    carl_id = get_user(app, "carl@example.com").id
    with app.app_context():
        record_conversion(
            carl_id, kind="purchase", amount=4999, currency="USD", external_id="ch_1"
        )
        dispatch.dispatch()
        # Ann's link confirming new payout details (signed in as her only).
        token = tokens.issue(TokenPurpose.PAYOUT_DETAILS, ann_id)
    return {
        "user_id": ann_id,
        "referral_id": scalar(app, sa.select(Referral.id)),
        "reward_id": scalar(app, sa.select(sa.func.min(Reward.id))),
        "external_id": "ch_1",
        "kind": "referrals",
        "endpoint_id": endpoint_id,
        "delivery_id": scalar(app, sa.select(sa.func.min(WebhookDelivery.id))),
        # The admin's billing events: refused to non-admins before any lookup.
        "event_id": 1,
        # A blocklist entry (admins' own, whoever the user): any id will do.
        "entry_id": 1,
        # Payout batches and their lines (admins' own): refused to non-admins
        # before any lookup, so any id will do.
        "batch_id": 1,
        "line_id": 1,
        "currency": "USD",
        "token": token,
    }


@pytest.mark.proof
def test_object_routes_refuse_other_users_ids(
    make_app, make_user, someone_elses_objects
):
    app = make_app(REFERRALS_API_KEY="k" * 32)  # the API on, so its key is checked
    make_user("mallory@example.com", "Mallory")
    mallory = app.test_client()
    login(mallory, "mallory@example.com")
    anonymous = app.test_client()
    checked, reachable, unclassified = 0, [], []
    for endpoint, rule, methods in object_routes(app):
        if endpoint in PUBLIC_BY_DESIGN:
            continue
        missing = rule.arguments - someone_elses_objects.keys()
        if missing:
            unclassified.append((endpoint, sorted(missing)))
            continue
        path = rule.build(someone_elses_objects, append_unknown=False)[1]
        for method in sorted(methods):
            checked += 1
            if mallory.open(path, method=method).status_code not in REFUSED:
                reachable.append((endpoint, method, "another user"))
            response = anonymous.open(path, method=method)
            if response.status_code not in REFUSED and not _to_login(response):
                reachable.append((endpoint, method, "anonymous"))
    proof.record("object_routes_checked", checked)
    proof.record("object_routes_reachable_by_wrong_user", len(reachable))
    assert unclassified == [], "give these routes sample ids or a public reason"
    assert reachable == []
    assert checked >= 5  # the admin referrer, reward, fraud and refund routes


def _to_login(response) -> bool:
    return response.status_code == 302 and "/login" in response.location
