"""Payout details confirmed by email, through a real SMTP server: a change waits
for the link sent to the account's own address, which works once, for its own
account, before it expires; without mail the password alone still decides."""

import time
from datetime import timedelta

import pytest
import sqlalchemy as sa

from referral_site.extensions import db
from referral_site.referrals.emails.models import EmailToken, TokenPurpose
from referral_site.referrals.payouts.models import (
    PayoutAccount,
    PayoutDetailChange,
    PayoutLine,
    PendingPayoutDetails,
)
from referral_site.referrals.storage.models import utcnow
from tests.conftest import PASSWORD, login, query, scalar
from tests.email_helpers import csrf_token, links, mail_settings, path_of
from tests.payout_helpers import (
    SETTINGS,
    create_batch,
    friend_buys,
    set_paypal,
    signed_in,
)
from tests.smtp import parts

SUBJECT = "Confirm the change of your payout details"
RECEIPT = "Your payout details were changed"


@pytest.fixture
def app(make_app, smtp):
    return make_app(**SETTINGS, **mail_settings(smtp))


@pytest.fixture
def ann(app, make_user):
    """Ann, signed in, whose details in force are PayPal to ann.old@."""
    ann_id, _ = make_user("ann@example.com", "Ann")
    _set_details(app, ann_id, "ann.old@paypal.example")
    client = signed_in(app, "ann@example.com")
    client.ann_id = ann_id
    return client


def _set_details(app, user_id, paypal_email) -> None:
    with app.app_context():
        db.session.add(
            PayoutAccount(user_id=user_id, method="paypal", paypal_email=paypal_email)
        )
        db.session.commit()


def _details(app, user_id):
    with app.app_context():
        account = db.session.get(PayoutAccount, user_id)
        return (account.method.value, account.paypal_email) if account else None


def _logged(app) -> list[str]:
    with app.app_context():
        return list(
            db.session.scalars(
                sa.select(PayoutDetailChange.detail).order_by(PayoutDetailChange.id)
            )
        )


def _pending_count(app) -> int:
    return scalar(app, sa.select(sa.func.count(PendingPayoutDetails.user_id)))


def _confirm_path(message) -> str:
    (link,) = [url for url in links(message) if "/confirm/" in url]
    return path_of(link)


def _ask(client, smtp, paypal_email="ann.new@paypal.example", count=1) -> str:
    """Ask for new PayPal details through the form; the emailed link's path."""
    assert set_paypal(client, paypal_email).status_code == 302
    return _confirm_path(smtp.wait_for(count, subject=SUBJECT)[-1])


def _page(client) -> str:
    return client.get("/referrals").get_data(as_text=True)


def test_a_change_waits_for_the_link_emailed_to_the_account(app, ann, smtp):
    response = set_paypal(ann, "ann.new@paypal.example")
    assert response.status_code == 302
    assert _details(app, ann.ann_id) == ("paypal", "ann.old@paypal.example")
    (message,) = smtp.wait_for(1, subject=SUBJECT)
    assert message["To"] == "ann@example.com"
    text, html = parts(message)
    assert "paid by PayPal to a***@paypal.example" in text
    assert "ann.new@paypal.example" not in text + html  # masked in the email
    assert "24 hours" in text
    assert _confirm_path(message).startswith("/referrals/payout-details/confirm/")
    page = _page(ann)
    assert "Check your email: we sent a link to a***@example.com" in page
    assert "Awaiting confirmation:" in page
    assert "PayPal to ann.new@paypal.example" in page
    assert "Paid by PayPal to ann.old@paypal.example." in page  # still in force
    assert _logged(app) == []


def test_following_the_link_applies_the_change_and_logs_it(app, ann, smtp):
    path = _ask(ann, smtp)
    shown = ann.get(path)  # what a mail scanner's prefetch does: nothing
    assert shown.status_code == 200
    assert "ann.new@paypal.example" in shown.get_data(as_text=True)
    assert _details(app, ann.ann_id) == ("paypal", "ann.old@paypal.example")
    done = ann.post(path)
    assert done.status_code == 302 and done.location.endswith("#payout-details")
    assert _details(app, ann.ann_id) == ("paypal", "ann.new@paypal.example")
    assert _logged(app) == ["a***@paypal.example"]
    assert _pending_count(app) == 0
    page = _page(ann)
    assert "confirmed and in effect" in page and "Awaiting confirmation" not in page
    receipts = [m for m in smtp.wait_for(2) if m["Subject"] == RECEIPT]
    assert [m["To"] for m in receipts] == ["ann@example.com"]
    text, _ = parts(receipts[0])
    assert "paid by PayPal to a***@paypal.example" in text
    assert "ann.new@paypal.example" not in text
    assert "http://referrals.test/referrals#payout-details" in text


def test_a_link_works_once(app, ann, smtp):
    path = _ask(ann, smtp)
    assert ann.post(path).status_code == 302
    again = ann.post(path)
    assert again.status_code == 400
    assert "used already" in again.get_data(as_text=True)
    assert ann.get(path).status_code == 400
    assert _logged(app) == ["a***@paypal.example"]


def test_an_expired_link_is_refused_and_changes_nothing(make_app, smtp, make_user):
    app = make_app(
        REFERRALS_PAYOUT_DETAILS_CONFIRM_HOURS=0, **SETTINGS, **mail_settings(smtp)
    )
    make_user("ann@example.com", "Ann")
    client = signed_in(app, "ann@example.com")
    path = _ask(client, smtp)
    time.sleep(1.1)  # links are dated to the second; 0 allows none
    for method in (client.get, client.post):
        response = method(path)
        assert response.status_code == 400
        assert "expired" in response.get_data(as_text=True)
    assert scalar(app, sa.select(sa.func.count(PayoutAccount.user_id))) == 0
    assert "Awaiting confirmation" not in _page(client)


def test_a_lapsed_change_is_purged_with_the_address_it_held(app, ann, smtp):
    _ask(ann, smtp)
    purge = ["referrals", "purge-payout-changes"]
    runner = app.test_cli_runner()
    assert "Purged 0 lapsed" in runner.invoke(args=purge).output  # still waiting
    hours = app.config["REFERRALS_PAYOUT_DETAILS_CONFIRM_HOURS"]
    with app.app_context():
        db.session.execute(
            sa.update(PendingPayoutDetails).values(
                created_at=utcnow() - timedelta(hours=hours, minutes=1)
            )
        )
        db.session.commit()
    assert "Purged 1 lapsed" in runner.invoke(args=purge).output
    assert _pending_count(app) == 0


@pytest.mark.parametrize(
    "token", ["forged.token", "eyJhIjoxfQ.forged.signature", "%00", "x" * 500]
)
def test_a_forged_link_is_refused(app, ann, token):
    for method in (ann.get, ann.post):
        response = method(f"/referrals/payout-details/confirm/{token}")
        assert response.status_code == 400
        assert "not valid" in response.get_data(as_text=True)
    assert _details(app, ann.ann_id) == ("paypal", "ann.old@paypal.example")


def test_a_link_of_another_purpose_is_refused(app, ann):
    from referral_site.referrals.emails import tokens

    with app.test_request_context():
        token = tokens.issue(TokenPurpose.PASSWORD_RESET, ann.ann_id)
    response = ann.post(f"/referrals/payout-details/confirm/{token}")
    assert response.status_code == 400
    assert _details(app, ann.ann_id) == ("paypal", "ann.old@paypal.example")


def test_a_newer_request_replaces_the_older(app, ann, smtp):
    first = _ask(ann, smtp, "first@paypal.example")
    second = _ask(ann, smtp, "second@paypal.example", count=2)
    assert _pending_count(app) == 1
    assert "PayPal to second@paypal.example" in _page(ann)
    assert ann.post(first).status_code == 400
    assert _details(app, ann.ann_id) == ("paypal", "ann.old@paypal.example")
    assert ann.post(second).status_code == 302
    assert _details(app, ann.ann_id) == ("paypal", "second@paypal.example")


def test_store_credit_only_is_confirmed_the_same_way(app, ann, smtp):
    ann.post(
        "/referrals/payout-details",
        data={"payout-method": "store_credit", "payout-password": PASSWORD},
    )
    (message,) = smtp.wait_for(1, subject=SUBJECT)
    assert "store credit only" in parts(message)[0]
    assert _details(app, ann.ann_id) == ("paypal", "ann.old@paypal.example")
    assert ann.post(_confirm_path(message)).status_code == 302
    assert _details(app, ann.ann_id) == ("store_credit", None)


def test_a_wrong_password_stores_and_sends_nothing(app, ann, smtp):
    set_paypal(ann, "ann.new@paypal.example", password="not my password")
    assert "That is not your password" in _page(ann)
    assert _pending_count(app) == 0
    _ask(ann, smtp)  # with the right password a link is sent...
    assert len(smtp.messages(subject=SUBJECT)) == 1  # ...and it is the only one


def test_cancelling_keeps_the_details_and_spends_the_link(app, ann, smtp):
    path = _ask(ann, smtp)
    response = ann.post("/referrals/payout-details/cancel")
    assert response.status_code == 302
    page = _page(ann)
    assert "The change is cancelled" in page and "Awaiting confirmation" not in page
    assert _pending_count(app) == 0
    assert ann.post(path).status_code == 400
    assert _details(app, ann.ann_id) == ("paypal", "ann.old@paypal.example")


def test_another_account_cannot_use_the_link(app, ann, smtp, make_user):
    path = _ask(ann, smtp)
    make_user("mallory@example.com", "Mallory")
    mallory = signed_in(app, "mallory@example.com")
    for method in (mallory.get, mallory.post):
        response = method(path)
        assert response.status_code == 403
        assert "another account" in response.get_data(as_text=True)
    assert _details(app, ann.ann_id) == ("paypal", "ann.old@paypal.example")
    assert ann.post(path).status_code == 302  # still works for its own account


def test_a_signed_out_visitor_signs_in_first(app, ann, smtp):
    path = _ask(ann, smtp)
    visitor = app.test_client()
    for method in (visitor.get, visitor.post):
        response = method(path)
        assert response.status_code == 302 and "/login" in response.location
    assert _details(app, ann.ann_id) == ("paypal", "ann.old@paypal.example")
    signed = login(visitor, "ann@example.com", query=f"?next={path}")
    assert signed.location == path
    assert visitor.get(path).status_code == 200


def test_a_batch_made_meanwhile_pays_the_details_in_force(app, make_user, smtp):
    ann_id, code = make_user("ann@example.com", "Ann")
    _set_details(app, ann_id, "ann.old@paypal.example")
    for charge in ("ch_1", "ch_2"):
        friend_buys(app, make_user, code, charge)
    ann = signed_in(app, "ann@example.com")
    path = _ask(ann, smtp)
    make_user("boss@example.com", "Boss", admin=True)
    admin = signed_in(app, "boss@example.com")
    assert create_batch(admin).status_code == 302
    assert ann.post(path).status_code == 302
    assert _details(app, ann_id) == ("paypal", "ann.new@paypal.example")
    lines = query(app, sa.select(PayoutLine.user_id, PayoutLine.paypal_email))
    assert [tuple(line) for line in lines] == [(ann_id, "ann.old@paypal.example")]


def test_a_change_of_the_account_address_drops_the_change(app, ann, smtp):
    path = _ask(ann, smtp)
    with app.app_context():
        from referral_site.models import User

        db.session.get(User, ann.ann_id).email = "ann.elsewhere@example.com"
        db.session.commit()
    assert "Awaiting confirmation" not in _page(ann)
    assert ann.post(path).status_code == 400
    assert _details(app, ann.ann_id) == ("paypal", "ann.old@paypal.example")


def test_a_password_reset_drops_the_change_asked_with_the_old_password(app, ann, smtp):
    path = _ask(ann, smtp)
    anyone = app.test_client()
    anyone.post("/password/forgot", data={"email": "ann@example.com"})
    (reset,) = smtp.wait_for(2)[1:]
    new_password = {"password": "a new long secret", "confirm": "a new long secret"}
    assert anyone.post(path_of(links(reset)[0]), data=new_password).status_code == 302
    assert _pending_count(app) == 0
    owner = app.test_client()
    login(owner, "ann@example.com", "a new long secret")
    assert owner.post(path).status_code == 400  # the link went with it
    assert _details(app, ann.ann_id) == ("paypal", "ann.old@paypal.example")


def test_deleting_the_account_forgets_the_pending_change(app, ann, smtp):
    _ask(ann, smtp)
    exported = ann.get("/referrals/export").get_json()
    assert exported["payout_details_awaiting_confirmation"] == {
        "method": "paypal",
        "paypal_email": "ann.new@paypal.example",
        "link_sent_to": "ann@example.com",
        "asked_at": exported["payout_details_awaiting_confirmation"]["asked_at"],
    }
    assert ann.post("/referrals/delete", data={"password": PASSWORD}).status_code == 302
    assert _pending_count(app) == 0


def test_a_failed_send_keeps_nothing_pending_and_a_retry_works(app, ann, smtp):
    smtp.refuse = True
    set_paypal(ann, "ann.new@paypal.example")
    assert "We could not send the confirmation email" in _page(ann)
    assert _pending_count(app) == 0
    with app.app_context():
        unused = db.session.scalar(
            sa.select(sa.func.count(EmailToken.id)).where(EmailToken.used_at.is_(None))
        )
    assert unused == 0
    smtp.refuse = False
    assert ann.post(_ask(ann, smtp)).status_code == 302
    assert _details(app, ann.ann_id) == ("paypal", "ann.new@paypal.example")


def test_without_mail_the_password_alone_changes_the_details(make_app, make_user, smtp):
    app = make_app(**SETTINGS)
    ann_id, _ = make_user("ann@example.com", "Ann")
    client = signed_in(app, "ann@example.com")
    assert set_paypal(client, "ann.new@paypal.example").status_code == 302
    assert _details(app, ann_id) == ("paypal", "ann.new@paypal.example")
    assert _logged(app) == ["a***@paypal.example"]
    assert _pending_count(app) == 0
    assert "Your payout details are saved." in _page(client)
    assert smtp.wait_for(1, timeout=0.3) == []


def test_confirming_and_cancelling_need_the_csrf_token(make_app, make_user, smtp):
    app = make_app(WTF_CSRF_ENABLED=True, **SETTINGS, **mail_settings(smtp))
    make_user("ann@example.com", "Ann")
    client = app.test_client()
    token = csrf_token(client.get("/login").get_data(as_text=True))
    login(client, "ann@example.com", csrf_token=token)
    form = {
        "payout-csrf_token": csrf_token(_page(client)),
        "payout-method": "paypal",
        "payout-paypal_email": "ann.new@paypal.example",
        "payout-password": PASSWORD,
    }
    assert client.post("/referrals/payout-details", data=form).status_code == 302
    path = _confirm_path(smtp.wait_for(1, subject=SUBJECT)[0])
    page = client.get(path).get_data(as_text=True)
    for action in (path, "/referrals/payout-details/cancel"):
        refused = client.post(action)
        assert refused.status_code == 400 and "CSRF" in refused.get_data(as_text=True)
    assert _pending_count(app) == 1
    assert client.post(path, data={"csrf_token": csrf_token(page)}).status_code == 302
    assert _pending_count(app) == 0
