"""Referrers' emails through a real SMTP server: parts, recipients, links, headers."""

import smtplib

import pytest
import sqlalchemy as sa

from referral_site.extensions import db
from referral_site.referrals.emails.events import deliver_event
from referral_site.referrals.emails.models import EmailDelivery
from referral_site.referrals.emails.sending import OutgoingEmail, send_email
from referral_site.referrals.outbox.consumers import Event
from referral_site.referrals.outbox.models import OutboxEvent
from referral_site.referrals.rewards import engine as rewards
from referral_site.referrals.rewards.conversions import record_conversion
from referral_site.referrals.storage.models import Reward
from tests.conftest import get_user, login, scalar, signup
from tests.email_helpers import (
    SENDER,
    csrf_token,
    links,
    mail_settings,
    path_of,
    run_jobs,
    unsubscribe_url,
)
from tests.smtp import parts

#: A signup bonus and a milestone at the first converted friend, released at once.
RULES = [
    {"name": "join-bonus", "trigger": "signup", "amount": 500, "hold_days": 0},
    {"name": "first-friend", "trigger": "milestone", "milestones": [1],
     "amount": 2000, "hold_days": 0},
]  # fmt: skip


@pytest.fixture
def program(make_app, smtp):
    return make_app(REFERRALS_REWARD_RULES=RULES, **mail_settings(smtp))


def test_a_friend_joining_emails_the_referrer_both_parts_and_unsubscribe(
    mail_app, smtp, make_user
):
    _, code = make_user("ann@example.com", "Ann")
    make_user("bob@example.com", "Bob", code=code)
    run_jobs(mail_app)
    (message,) = smtp.wait_for(1)
    assert smtp.received[0][0] == ["ann@example.com"]
    assert message["To"] == "ann@example.com" and message["From"] == SENDER
    assert message["Subject"] == "Bob joined through your link"
    text, html = parts(message)
    assert "Bob just signed up with your referral link" in text
    assert "<strong>Bob</strong> just signed up" in html
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert unsubscribe_url(message) in text and unsubscribe_url(message) in html
    client = mail_app.test_client()
    login(client, "ann@example.com")
    for link in links(message):  # the unsubscribe page and the referrals page
        assert client.get(path_of(link)).status_code == 200, link


def test_one_click_unsubscribe_needs_no_session_and_stops_that_category(
    make_app, smtp, make_user
):
    app = make_app(WTF_CSRF_ENABLED=True, **mail_settings(smtp))
    _, code = make_user("ann@example.com", "Ann")
    make_user("bob@example.com", "Bob", code=code)
    run_jobs(app)
    (message,) = smtp.wait_for(1)
    # RFC 8058: what a mail client posts, without cookies or a CSRF token.
    response = app.test_client().post(
        path_of(unsubscribe_url(message)),
        data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200
    assert "no longer get emails" in response.get_data(as_text=True)
    make_user("cat@example.com", "Cat", code=code)
    run_jobs(app)
    assert len(smtp.wait_for(2, timeout=0.5)) == 1  # nothing about Cat


def test_opening_the_unsubscribe_link_changes_nothing(mail_app, smtp, make_user):
    _, code = make_user("ann@example.com", "Ann")
    make_user("bob@example.com", "Bob", code=code)
    run_jobs(mail_app)
    (message,) = smtp.wait_for(1)
    page = mail_app.test_client().get(path_of(unsubscribe_url(message)))
    assert page.status_code == 200 and "Unsubscribe</button>" in page.get_data(
        as_text=True
    )
    make_user("cat@example.com", "Cat", code=code)
    run_jobs(mail_app)
    assert len(smtp.wait_for(2)) == 2  # a link checker's GET unsubscribed nobody


@pytest.mark.parametrize("token", ["nonsense", "WyIxIiwicmV3YXJkX3BhaWQiXQ.forged"])
def test_a_forged_unsubscribe_link_is_refused(mail_app, token):
    response = mail_app.test_client().post(f"/referrals/unsubscribe/{token}")
    assert response.status_code == 403
    assert "not valid" in response.get_data(as_text=True)


def test_an_event_handled_twice_sends_its_email_once(mail_app, smtp, make_user):
    _, code = make_user("ann@example.com", "Ann")
    make_user("bob@example.com", "Bob", code=code)
    with mail_app.app_context():
        row = db.session.scalar(
            sa.select(OutboxEvent).where(OutboxEvent.type == "referral.created")
        )
        event = Event(row.id, row.type, row.payload, row.created_at)
        assert deliver_event(event) == 1
        assert deliver_event(event) == 0  # at least once upstream, once here
    run_jobs(mail_app)  # and the job's own run of it
    assert len(smtp.wait_for(2, timeout=0.5)) == 1
    assert scalar(mail_app, sa.select(sa.func.count(EmailDelivery.id))) == 1


def test_a_refused_send_is_retried_by_the_job_and_arrives_once(
    mail_app, smtp, make_user
):
    _, code = make_user("ann@example.com", "Ann")
    make_user("bob@example.com", "Bob", code=code)
    smtp.refuse = True
    assert run_jobs(mail_app).failed == 1
    assert scalar(mail_app, sa.select(sa.func.count(EmailDelivery.id))) == 0
    smtp.refuse = False
    with mail_app.app_context():
        from datetime import timedelta

        from referral_site.referrals.outbox.dispatch import run_due
        from referral_site.referrals.storage.models import utcnow

        assert run_due(now=utcnow() + timedelta(hours=2)) == (1, 0)
    assert len(smtp.wait_for(1)) == 1


def test_each_reward_category_reaches_its_owner(program, smtp, make_user, admin):
    ann_id, code = make_user("ann@example.com", "Ann")
    signup(program.test_client(), email="bob@example.com", name="Bob", code=code)
    bob_id = get_user(program, "bob@example.com").id
    with program.app_context():
        record_conversion(bob_id, kind="purchase", amount=5000, external_id="ch_1")
        rewards.process_rewards()  # hold 0: both approved
        bonus, milestone = db.session.scalars(
            sa.select(Reward.id).where(Reward.user_id == ann_id).order_by(Reward.id)
        )
        rewards.decide([bonus], "pay", actor_id=ann_id)
    response = admin.post(
        f"/admin/rewards/{milestone}",
        data={"reason": "Duplicate account", "reject": "Reject"},
    )
    assert response.status_code == 302
    run_jobs(program)
    smtp.wait_for(8, timeout=1)
    ann = smtp.messages(to="ann@example.com")
    subjects = [m["Subject"] for m in ann]
    assert sorted(m["Subject"] for m in ann) == [
        "Bob joined through your link",
        "Milestone reached: a $20.00 bonus",
        "You earned $5.00",
        "Your $20.00 reward is approved",
        "Your $20.00 reward was not approved",
        "Your $5.00 reward is approved",
        "Your $5.00 reward is paid",
    ], subjects
    rejected = next(m for m in ann if "not approved" in m["Subject"])
    text, html = parts(rejected)
    assert "The reason given: Duplicate account" in text
    assert "<em>Duplicate account</em>" in html
    reader = program.test_client()
    login(reader, "ann@example.com")
    for message in ann:
        text, html = parts(message)
        assert "Hello Ann," in text and "Hello Ann," in html, message["Subject"]
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert unsubscribe_url(message) in text and unsubscribe_url(message) in html
        for link in links(message):
            assert reader.get(path_of(link)).status_code == 200, link


def test_a_category_turned_off_on_the_referrals_page_sends_nothing(
    program, smtp, make_user
):
    ann_id, code = make_user("ann@example.com", "Ann")
    client = program.test_client()
    login(client, "ann@example.com")
    page = client.get("/referrals").get_data(as_text=True)
    assert 'name="reward_earned"' in page and 'name="admin_digest"' not in page
    kept = {"friend_signed_up": "y", "reward_approved": "y", "reward_paid": "y"}
    response = client.post("/referrals/emails", data=kept)
    assert response.status_code == 302
    # A friend and a signup bonus (through this app: its rules grant the bonus).
    signup(program.test_client(), email="bob@example.com", name="Bob", code=code)
    run_jobs(program)
    smtp.wait_for(3, timeout=0.5)
    (message,) = smtp.messages(to="ann@example.com")
    assert message["Subject"] == "Bob joined through your link"


def test_the_preferences_form_refuses_a_post_without_its_token(
    make_app, smtp, make_user
):
    app = make_app(WTF_CSRF_ENABLED=True, **mail_settings(smtp))
    make_user("ann@example.com", "Ann")
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    client.post(
        "/login",
        data={"email": "ann@example.com", "password": "correct horse battery",
              "csrf_token": csrf_token(page)},
    )  # fmt: skip
    assert client.post("/referrals/emails", data={}).status_code == 400
    page = client.get("/referrals").get_data(as_text=True)
    assert page.count("checked") == 6  # nothing was turned off


def test_a_message_the_server_refuses_ends_its_session_with_quit(mail_app, smtp):
    # Not a connection left to the garbage collector: the sender says goodbye.
    smtp.refuse = True
    message = OutgoingEmail(
        to="ann@example.com", subject="Hello", text="Hello", html="<p>Hello</p>"
    )
    with mail_app.app_context(), pytest.raises(smtplib.SMTPDataError):
        send_email(message)
    assert smtp.quits == 1
    smtp.refuse = False
    with mail_app.app_context():
        assert send_email(message)
    assert len(smtp.wait_for(1)) == 1 and smtp.quits == 2
