"""Payouts through the test client: payout details, what is due, batches, their
files, marking paid, failed lines, refunds netted against the next payout."""

import pytest
import sqlalchemy as sa

from referral_site.extensions import db
from referral_site.referrals.payouts.models import (
    PayoutAccount,
    PayoutDetailChange,
    PayoutLine,
)
from referral_site.referrals.storage.models import RewardEvent, RewardStatus
from tests.conftest import scalar
from tests.payout_helpers import (
    SETTINGS,
    batch_id_of,
    create_batch,
    csv_rows,
    friend_buys,
    holders,
    mark_paid,
    reward_rows,
    set_paypal,
    signed_in,
    times_paid,
)
from tests.reward_helpers import AUTH

APPROVED, PAID = RewardStatus.APPROVED, RewardStatus.PAID


@pytest.fixture
def app(make_app):
    return make_app(**SETTINGS)


@pytest.fixture
def ann(app, make_user):
    """Ann, who referred two friends who bought (20.00 cash due), signed in."""
    ann_id, code = make_user("ann@example.com", "Ann")
    friend_buys(app, make_user, code, "ch_1")
    friend_buys(app, make_user, code, "ch_2")
    client = signed_in(app, "ann@example.com")
    client.ann_id, client.code = ann_id, code
    return client


def test_payout_details_need_the_password_and_a_real_address(app, ann):
    page = ann.get("/referrals").get_data(as_text=True)
    assert "You have not said how to pay you yet." in page
    refused = set_paypal(ann, "ann.paypal@example.com", password="wrong password")
    assert refused.status_code == 302
    follow = ann.get("/referrals").get_data(as_text=True)
    assert "That is not your password; nothing was changed." in follow
    for bad in ("not an address", "=cmd@example.com", ""):
        set_paypal(ann, bad)
    assert scalar(app, sa.select(sa.func.count(PayoutAccount.user_id))) == 0
    assert set_paypal(ann, "Ann.PayPal@Example.com").status_code == 302
    page = ann.get("/referrals").get_data(as_text=True)
    assert "Paid by PayPal to Ann.PayPal@example.com." in page
    store = ann.post(
        "/referrals/payout-details",
        data={
            "payout-method": "store_credit",
            "payout-password": "correct horse battery",
        },
    )
    assert store.status_code == 302
    assert "Store credit only" in ann.get("/referrals").get_data(as_text=True)
    with app.app_context():
        changes = db.session.scalars(
            sa.select(PayoutDetailChange.detail).order_by(PayoutDetailChange.id)
        ).all()
    assert changes == ["A***@example.com", ""]  # logged, the address masked


def test_due_shows_the_minimum_and_missing_details(app, ann, admin, make_user):
    bea, bea_code = make_user("bea@example.com", "Bea")
    friend_buys(app, make_user, bea_code, "ch_b1")  # 10.00: below the 15.00 minimum
    page = admin.get("/admin/payouts").get_data(as_text=True)
    assert f'data-due="{ann.ann_id}:USD" data-payable="no"' in page
    assert "No payout details" in page
    assert f'data-due="{bea}:USD" data-payable="no"' in page
    assert '$15.00 <span class="muted">(below)' in page
    set_paypal(ann, "ann@paypal.example")
    page = admin.get("/admin/payouts").get_data(as_text=True)
    assert f'data-due="{ann.ann_id}:USD" data-payable="yes"' in page
    mine = ann.get("/referrals").get_data(as_text=True)
    assert 'data-due="2000"' in mine and "In the next payout." in mine
    assert "monthly, on the 1st" in mine


def test_a_batch_is_exported_for_paypal_and_paid_in_one_step(app, ann, admin):
    set_paypal(ann, "ann@paypal.example")
    created = create_batch(admin)
    assert created.status_code == 302
    batch_id = batch_id_of(created)
    page = admin.get(f"/admin/payouts/batches/{batch_id}").get_data(as_text=True)
    assert "ann@paypal.example" in page and "$20.00" in page
    paypal = admin.get(f"/admin/payouts/batches/{batch_id}/paypal-USD.csv")
    assert paypal.mimetype == "text/csv"
    rows = csv_rows(paypal.get_data(as_text=True))
    # No header row; recipient, amount, currency, customer id, note, wallet.
    assert len(rows) == 1 and len(rows[0]) == 6
    email, amount, currency, customer_id, note, wallet = rows[0]
    assert (email, amount, currency, wallet) == (
        "ann@paypal.example",
        "20.00",
        "USD",
        "PAYPAL",
    )
    assert len(customer_id) <= 30 and " " not in customer_id
    assert 0 < len(note) <= 400
    generic = csv_rows(
        admin.get(f"/admin/payouts/batches/{batch_id}/batch.csv").get_data(as_text=True)
    )
    assert generic[0] == ["recipient", "amount", "currency", "reference", "reward_ids"]
    cash_ids = [r[0] for r in reward_rows(app, ann.ann_id)]
    assert generic[1] == ["ann@paypal.example", "20.00", "USD", customer_id,
                          " ".join(map(str, cash_ids))]  # fmt: skip
    assert (
        admin.get(f"/admin/payouts/batches/{batch_id}/paypal-EUR.csv").status_code
        == 404
    )
    # Not confirmed: nothing is paid.
    admin.post(f"/admin/payouts/batches/{batch_id}/paid", data={"reference": "X"})
    assert {r[3] for r in reward_rows(app, ann.ann_id)} == {APPROVED}
    assert mark_paid(admin, batch_id, "PP-7781").status_code == 302
    assert {r[3] for r in reward_rows(app, ann.ann_id)} == {PAID}
    with app.app_context():
        reasons = db.session.scalars(
            sa.select(RewardEvent.reason).where(RewardEvent.to_status == PAID)
        ).all()
    assert reasons == [f"paid in payout batch #{batch_id} (PP-7781)"] * 2
    mine = ann.get("/referrals").get_data(as_text=True)
    assert "PP-7781" in mine and 'data-payout-status="paid"' in mine
    assert f"#{cash_ids[0]}, #{cash_ids[1]}" in mine
    assert "Nothing is due to you right now." in mine
    again = mark_paid(admin, batch_id, "PP-7781")
    assert again.status_code == 302 and times_paid(app) == dict.fromkeys(cash_ids, 1)


def test_a_failed_line_returns_its_rewards_to_what_is_due(app, ann, admin):
    set_paypal(ann, "ann@paypal.example")
    batch_id = batch_id_of(create_batch(admin))
    with app.app_context():
        line_id = db.session.scalar(sa.select(PayoutLine.id))
    unconfirmed = admin.post(
        f"/admin/payouts/lines/{line_id}/failed", data={"reason": "no account"}
    )
    assert unconfirmed.status_code == 302 and holders(app)
    failed = admin.post(
        f"/admin/payouts/lines/{line_id}/failed",
        data={"reason": "PayPal: receiver unregistered", "confirm": "y"},
    )
    assert failed.status_code == 302 and holders(app) == {}
    page = admin.get(f"/admin/payouts/batches/{batch_id}").get_data(as_text=True)
    assert 'data-batch-status="failed"' in page
    assert f'data-due="{ann.ann_id}:USD" data-payable="yes"' in admin.get(
        "/admin/payouts"
    ).get_data(as_text=True)
    mine = ann.get("/referrals").get_data(as_text=True)
    assert "Failed: PayPal: receiver unregistered (due again)" in mine
    with app.app_context():
        history = db.session.scalars(
            sa.select(RewardEvent.reason).where(RewardEvent.amount_minor == 0)
        ).all()
    assert (
        history
        == [f"payout batch #{batch_id} failed: PayPal: receiver unregistered"] * 2
    )
    # The rewards go into the next batch and are paid once.
    second = batch_id_of(create_batch(admin))
    mark_paid(admin, second)
    assert set(times_paid(app).values()) == {1}


def test_a_batched_reward_moves_only_with_its_batch(app, ann, admin):
    set_paypal(ann, "ann@paypal.example")
    create_batch(admin)
    reward_id = reward_rows(app, ann.ann_id)[0][0]
    for button in ({"pay": "Mark paid"}, {"reject": "Reject", "reason": "dup"}):
        answer = admin.post(
            f"/admin/rewards/{reward_id}", data=button, follow_redirects=True
        )
        assert f"Reward #{reward_id} is in payout batch #1" in answer.get_data(
            as_text=True
        )
    assert reward_rows(app, ann.ann_id)[0][3] == APPROVED


def test_a_refund_after_payout_is_netted_against_the_next_payout(
    app, ann, admin, make_user
):
    set_paypal(ann, "ann@paypal.example")
    mark_paid(admin, batch_id_of(create_batch(admin)), "PP-1")
    assert admin.post("/api/conversions/ch_1/refund", headers=AUTH).status_code == 200
    rows = reward_rows(app, ann.ann_id)
    assert [r[1:] for r in rows] == [
        ("cash", 1000, PAID), ("cash", 1000, PAID), ("adjustment", -1000, APPROVED)
    ]  # fmt: skip
    mine = ann.get("/referrals").get_data(as_text=True)
    assert 'data-due="-1000"' in mine and "comes off your next payout" in mine
    assert "owed back: netted next time" in admin.get("/admin/payouts").get_data(
        as_text=True
    )
    assert create_batch(admin).headers["Location"].endswith("/admin/payouts")
    friend_buys(app, make_user, ann.code, "ch_3")
    friend_buys(app, make_user, ann.code, "ch_4")
    friend_buys(app, make_user, ann.code, "ch_5")
    batch_id = batch_id_of(create_batch(admin))
    rows = csv_rows(
        admin.get(f"/admin/payouts/batches/{batch_id}/paypal-USD.csv").get_data(
            as_text=True
        )
    )
    assert rows[0][1] == "20.00"  # 30.00 earned less the 10.00 clawed back
    mark_paid(admin, batch_id, "PP-2")
    assert {r[3] for r in reward_rows(app, ann.ann_id)} == {PAID}
    assert set(times_paid(app).values()) == {1}


def test_a_refund_of_a_reward_being_paid_becomes_a_clawback(app, ann, admin):
    set_paypal(ann, "ann@paypal.example")
    batch_id = batch_id_of(create_batch(admin))
    admin.post("/api/conversions/ch_1/refund", headers=AUTH)
    rows = reward_rows(app, ann.ann_id)
    # The file pays the reward whole; the refund is owed back, not lost.
    assert [r[1:] for r in rows] == [
        ("cash", 1000, APPROVED), ("cash", 1000, APPROVED),
        ("adjustment", -1000, APPROVED),
    ]  # fmt: skip
    mark_paid(admin, batch_id, "PP-1")
    rows = reward_rows(app, ann.ann_id)
    assert [r[3] for r in rows] == [PAID, PAID, APPROVED]
    assert 'data-due="-1000"' in ann.get("/referrals").get_data(as_text=True)


def test_selected_people_only_and_tampered_keys(app, ann, admin, make_user):
    bea, bea_code = make_user("bea@example.com", "Bea")
    friend_buys(app, make_user, bea_code, "ch_b1")
    friend_buys(app, make_user, bea_code, "ch_b2")
    set_paypal(ann, "ann@paypal.example")
    set_paypal(signed_in(app, "bea@example.com"), "bea@paypal.example")
    for keys in (["x:USD"], ["99999999999:USD"], [f"{bea}:usd"], [f"{bea}:USD\x00"]):
        response = create_batch(admin, *keys)
        assert response.status_code in (302, 400)
        assert response.headers.get("Location", "").endswith("/admin/payouts")
    batch_id = batch_id_of(create_batch(admin, f"{bea}:USD"))
    with app.app_context():
        lines = db.session.execute(
            sa.select(PayoutLine.user_id, PayoutLine.batch_id)
        ).all()
    assert [tuple(line) for line in lines] == [(bea, batch_id)]


@pytest.mark.parametrize("data", [{}, {"selected": "1"}])
def test_a_batch_of_nobody_is_refused_with_a_message(app, ann, admin, data):
    # A form without "everything" and without people (the buttons left out, as
    # a client may send it) creates nothing and says what is missing.
    response = admin.post("/admin/payouts/batches", data=data)
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/admin/payouts")
    page = admin.get("/admin/payouts").get_data(as_text=True)
    assert "Select at least one person" in page
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(PayoutLine.id))) == 0


@pytest.mark.parametrize(
    "path",
    [
        "/admin/payouts",
        "/admin/payouts/batches/1",
        "/admin/payouts/batches/1/batch.csv",
    ],
)
def test_payout_pages_are_for_admins_only(app, ann, path):
    assert ann.get(path).status_code == 403
    assert app.test_client().get(path).status_code == 302


def test_payout_forms_need_the_csrf_token(make_app, make_user):
    app = make_app(WTF_CSRF_ENABLED=True, **SETTINGS)
    make_user("boss@example.com", "Boss", admin=True)
    client = app.test_client()
    client.get("/login")
    assert (
        client.post("/admin/payouts/batches", data={"everything": "1"}).status_code
        == 400
    )
    assert (
        client.post(
            "/referrals/payout-details", data={"payout-method": "store_credit"}
        ).status_code
        == 400
    )


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("REFERRALS_PAYOUT_MINIMUM", '{"usd": 100}'),
        ("REFERRALS_PAYOUT_MINIMUM", '{"USD": -1}'),
        ("REFERRALS_PAYOUT_MINIMUM", "[1]"),
        ("REFERRALS_PAYOUT_DAY", 29),
    ],
)
def test_bad_payout_settings_stop_the_app(make_app, setting, value):
    with pytest.raises(ValueError, match=setting):
        make_app(**{setting: value})


def test_payout_details_are_exported_and_forgotten_with_the_account(app, ann):
    set_paypal(ann, "ann@paypal.example")
    exported = ann.get("/referrals/export").get_json()
    assert exported["payout_details"] == {
        "method": "paypal",
        "paypal_email": "ann@paypal.example",
    }
    deleted = ann.post("/referrals/delete", data={"password": "correct horse battery"})
    assert deleted.status_code == 302
    assert scalar(app, sa.select(sa.func.count(PayoutAccount.user_id))) == 0
    assert scalar(app, sa.select(sa.func.count(PayoutDetailChange.id))) == 0
