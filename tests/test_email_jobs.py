"""The admins' digest, rules that wait for a verified email, and a host that sends
mail its own way."""

import smtplib
from email.message import EmailMessage

import pytest
import sqlalchemy as sa

from referral_site.extensions import db
from referral_site.referrals import send_admin_digest
from referral_site.referrals.emails.models import EmailCategory
from referral_site.referrals.rewards import engine as rewards
from referral_site.referrals.rewards.rules import RuleConfigError
from referral_site.referrals.storage.models import Reward, RewardStatus
from tests.conftest import signup
from tests.email_helpers import links, mail_settings, path_of, run_jobs
from tests.host_apps import BROWSER, bookshop_app, join_bookshop
from tests.smtp import parts

VERIFIED_RULE = [
    {"name": "join-bonus", "trigger": "signup", "recipient": "referred",
     "amount": 300, "hold_days": 0, "verified_email": True},
]  # fmt: skip


def _status(app, reward_id) -> RewardStatus:
    with app.app_context():
        return db.session.get(Reward, reward_id).status


def test_a_rule_requiring_a_verified_email_waits_for_the_link(
    make_app, smtp, make_user
):
    app = make_app(REFERRALS_REWARD_RULES=VERIFIED_RULE, **mail_settings(smtp))
    admin_id, code = make_user("boss@example.com", "Boss", admin=True)
    client = app.test_client()
    signup(client, email="bob@example.com", name="Bob", code=code)
    with app.app_context():
        (reward_id,) = db.session.scalars(sa.select(Reward.id))
        assert rewards.process_rewards().to_review == 1
        refused = rewards.decide([reward_id], "approve", actor_id=admin_id)
    assert refused.changed == [] and "needs a verified email" in refused.problems[0]
    assert _status(app, reward_id) == RewardStatus.REVIEW
    smtp.wait_for(2)
    (verify,) = [
        m for m in smtp.messages(to="bob@example.com") if "Confirm" in m["Subject"]
    ]
    assert client.post(path_of(links(verify)[0])).status_code == 302
    assert _status(app, reward_id) == RewardStatus.PENDING  # back in its course
    with app.app_context():
        assert rewards.process_rewards().approved == 1


def test_a_verified_email_rule_needs_a_host_that_can_tell(tmp_path):
    with pytest.raises(RuleConfigError, match="REFERRALS_USER_EMAIL_VERIFIED"):
        with bookshop_app(tmp_path, REFERRALS_REWARD_RULES=VERIFIED_RULE):
            pass


def _flag_and_review(app, make_user):
    """A reward waiting for review and a referral flagged as suspicious."""
    _, code = make_user("ann@example.com", "Ann")
    # The referrer's own address, with a tag: the own_email signal flags it.
    make_user("ann+2@example.com", "Ann two", code=code)
    with app.app_context():
        db.session.add(
            Reward(user_id=1, kind="credit", amount_minor=1500, currency="EUR",
                   status=RewardStatus.REVIEW, rule="manual", source_key="m1",
                   earned_at=_now(), hold_until=_now())
        )  # fmt: skip
        db.session.commit()


def _now():
    from referral_site.referrals import utcnow

    return utcnow()


def test_the_admin_digest_tells_each_admin_once_a_day(mail_app, smtp, make_user):
    make_user("boss@example.com", "Boss", admin=True)
    make_user("chief@example.com", "Chief", admin=True)
    _flag_and_review(mail_app, make_user)
    with mail_app.app_context():
        assert send_admin_digest() == 2
        assert send_admin_digest() == 0  # today's went out
    messages = smtp.wait_for(2)
    assert sorted(m["To"] for m in messages) == [
        "boss@example.com",
        "chief@example.com",
    ]
    text, html = parts(messages[0])
    assert (
        messages[0]["Subject"] == "Referrals: 1 rewards await review, 1 new fraud flags"
    )
    assert "1 in EUR, €15.00" in text and "€15.00" in html
    assert "/admin/rewards?status=review" in text and "/admin/fraud" in text
    assert messages[0]["List-Unsubscribe"]


def test_the_digest_command_sends_nothing_when_nothing_waits(mail_app, smtp, make_user):
    make_user("boss@example.com", "Boss", admin=True)
    result = mail_app.test_cli_runner().invoke(args=["referrals", "email-digest"])
    assert result.exit_code == 0 and "to 0 admins" in result.output
    assert smtp.wait_for(1, timeout=0.3) == []


def test_an_admin_who_turned_the_digest_off_gets_none(mail_app, smtp, make_user):
    from referral_site.referrals.emails import preferences

    boss_id, _ = make_user("boss@example.com", "Boss", admin=True)
    _flag_and_review(mail_app, make_user)
    with mail_app.app_context():
        preferences.unsubscribe(boss_id, EmailCategory.ADMIN_DIGEST)
        assert send_admin_digest() == 0


def test_a_host_sends_the_plugins_emails_its_own_way(tmp_path, smtp):
    sent = []

    def send_with_smtplib(message):
        """The host's own mail code: the standard library, to the test's server."""
        email = EmailMessage()
        email["From"], email["To"] = "shop@example.com", message.to
        email["Subject"] = message.subject
        for name, value in message.headers.items():
            email[name] = value
        email.set_content(message.text)
        email.add_alternative(message.html, subtype="html")
        with smtplib.SMTP("127.0.0.1", smtp.port, timeout=10) as connection:
            connection.send_message(email)
        sent.append(message.to)

    with bookshop_app(
        tmp_path, send_mail=send_with_smtplib, REFERRALS_EMAIL_BASE_URL="http://x.test"
    ) as app:
        assert "mailman" not in app.extensions  # the host's sender, not the plugin's
        client = app.test_client()
        join_bookshop(client, "ann")
        ann_code = _code_of(app, "ann")
        visitor = app.test_client()
        visitor.get(f"/r/{ann_code}", headers=BROWSER)
        join_bookshop(visitor, "bob")
        run_jobs(app)
    (message,) = smtp.wait_for(1)
    assert sent == ["ann@example.com"]
    assert message["From"] == "shop@example.com"
    assert message["Subject"] == "bob joined through your link"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def _code_of(app, username):
    from referral_site.referrals import code_of
    from tests.host_apps import Reader, shelf

    with app.app_context():
        reader = shelf.session.scalar(
            sa.select(Reader).where(Reader.username == username)
        )
        return code_of(reader.uid)


def test_admins_are_emailed_when_a_webhook_endpoint_is_turned_off(
    mail_app, smtp, make_user
):
    from referral_site.referrals.outbox import events as outbox
    from referral_site.referrals.storage.transactions import write_transaction

    make_user("boss@example.com", "Boss", admin=True)
    make_user("ann@example.com", "Ann")
    with mail_app.app_context(), write_transaction() as session:
        outbox.record(
            session,
            outbox.WEBHOOK_ENDPOINT_DISABLED,
            {"endpoint_id": 7, "url": "https://hooks.example.com/in",
             "reason": "Every delivery failed since 2026-12-01 10:00 UTC."},
        )  # fmt: skip
    run_jobs(mail_app)
    (message,) = smtp.wait_for(1)
    assert message["To"] == "boss@example.com"
    text, html = parts(message)
    assert "https://hooks.example.com/in" in text and "failed since" in html
    assert "http://referrals.test/admin/webhooks/7" in text


def test_the_task_queue_runs_the_digest_daily_at_its_hour(make_app):
    app = make_app(REFERRALS_EMAIL_DIGEST_HOUR=6)
    from referral_site.referrals.jobs.queue import queue_of

    def due(hour, minute) -> set[str]:
        return {task.name for task in queue_of(app).read_periodic(_at(hour, minute))}

    assert "email_digest" in due(6, 0)
    assert "email_digest" not in due(7, 0) | due(6, 1)


def _at(hour, minute):
    from datetime import datetime

    return datetime(2026, 12, 3, hour, minute)


def test_password_reset_emails_are_rate_limited_per_ip(mail_app, smtp, make_user):
    make_user("ann@example.com", "Ann")
    client = mail_app.test_client()
    statuses = [
        client.post("/password/forgot", data={"email": "ann@example.com"}).status_code
        for _ in range(6)
    ]
    assert statuses == [200] * 5 + [429]
    assert len(smtp.wait_for(5)) == 5


def test_a_sender_registered_with_the_decorator_gets_every_email(tmp_path):
    from flask import Flask
    from flask_login import LoginManager

    from referral_site.referrals import Referrals, attribute_signup
    from tests.host_apps import Reader, own_database, shelf

    app = Flask("decorated")
    sent = []
    with own_database(tmp_path) as database:
        app.config.update(
            database,
            SECRET_KEY="decorated-secret",
            REFERRALS_AUTH_VIEWS=False,
            REFERRALS_LANDING_ENDPOINT="referrals.mine",
        )
        shelf.init_app(app)
        LoginManager(app)
        referrals = Referrals()
        referrals.init_app(app, db=shelf, user_model=Reader)

        @referrals.mail_sender  # after init_app: the app's sender changes too
        def record(message):
            sent.append(message)

        with app.app_context():
            shelf.create_all()
        with app.test_request_context():
            ann = Reader(username="ann", email="ann@example.com", secret="")
            shelf.session.add(ann)
            shelf.session.flush()
            code = attribute_signup(ann).code
            shelf.session.commit()
            bob = Reader(username="bob", email="bob@example.com", secret="")
            shelf.session.add(bob)
            shelf.session.flush()
            attribute_signup(bob, typed_code=code)
            shelf.session.commit()
        run_jobs(app)
        with app.app_context():
            shelf.session.remove()
            shelf.engine.dispose()
    (message,) = sent
    assert (message.to, message.subject) == (
        "ann@example.com",
        "bob joined through your link",
    )
    assert message.text and message.html and "List-Unsubscribe" in message.headers
