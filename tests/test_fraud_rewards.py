"""Flag decisions reach the rewards; the conversion API is rate limited."""

import pytest
import sqlalchemy as sa

from referral_site.referrals import fraud
from referral_site.referrals.models import Referral, RewardStatus
from tests.conftest import scalar
from tests.reward_helpers import (
    API_KEY,
    conversion_body,
    post_conversion,
    referred_pair,
    rewards_of,
)


@pytest.fixture
def flagged(make_app, make_user):
    """Bob referred by Ann, flagged, then converted: both rewards wait for review."""
    app = make_app(REFERRALS_API_KEY=API_KEY)
    referral_admin, _ = make_user("boss@example.com", "Boss", admin=True)
    referred_pair(make_user)
    referral_id = scalar(app, sa.select(Referral.id))
    with app.app_context():
        fraud.flag_referral(referral_id, ["same_ip"])
    assert post_conversion(app.test_client(), **conversion_body()).status_code == 201
    return app, referral_id, referral_admin


def test_confirmed_abuse_rejects_the_unpaid_rewards(flagged):
    app, referral_id, admin_id = flagged
    with app.app_context():
        fraud.confirm_flag(referral_id, admin_id=admin_id, reason="same household")
    statuses = {row[4] for row in rewards_of(app)}
    assert statuses == {RewardStatus.REJECTED}


def test_a_cleared_flag_lets_the_rewards_follow_the_rules(flagged):
    app, referral_id, admin_id = flagged
    with app.app_context():
        fraud.clear_flag(referral_id, admin_id=admin_id, reason="checked: two people")
    statuses = {row[4] for row in rewards_of(app)}
    assert statuses == {RewardStatus.PENDING}


def test_the_conversion_api_is_rate_limited(make_app, make_user):
    app = make_app(REFERRALS_API_KEY=API_KEY, REFERRALS_RATELIMIT_API="3 per minute")
    referred_pair(make_user)
    client = app.test_client()
    statuses = [
        post_conversion(client, **conversion_body(external_id=f"ch_{n}")).status_code
        for n in range(4)
    ]
    assert statuses == [201, 201, 201, 429]
