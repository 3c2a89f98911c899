"""A host with its own registration: it calls attribute_signup() and forget_user().

The bookshop keys its readers by UUID strings in a ``readers`` table, names them
by a unique ``username`` (no ``name``, no ``is_admin``: a ``role``), hashes
passwords its own way, registers them at ``/join`` and turns the plugin's own
auth pages off.
"""

import pytest
import sqlalchemy as sa

from referral_site.referrals import (
    attribute_signup,
    code_of,
    record_conversion,
    signals,
)
from referral_site.referrals.storage.models import Referral, ReferralAccount, Reward
from tests.host_apps import (
    BROWSER,
    Reader,
    bookshop_app,
    join_bookshop,
    shelf,
)


@pytest.fixture
def bookshop(tmp_path):
    with bookshop_app(tmp_path) as app:
        yield app


_join = join_bookshop


def _uid(app, username: str) -> str:
    with app.app_context():
        return shelf.session.scalar(
            sa.select(Reader.uid).where(Reader.username == username)
        )


def _scalar(app, statement):
    with app.app_context():
        return shelf.session.scalar(statement)


def _ann_and_her_code(bookshop) -> tuple[str, str]:
    _join(bookshop.test_client(), "ann")
    ann = _uid(bookshop, "ann")
    with bookshop.app_context():
        return ann, code_of(ann)


def test_the_plugins_keys_take_the_hosts_string_key(bookshop):
    column = shelf.metadata.tables["referrals"].c.referred_id
    assert isinstance(column.type, sa.String)
    assert {fk.target_fullname for fk in column.foreign_keys} == {"readers.uid"}


def test_a_link_then_the_hosts_own_signup_attributes_the_referral(bookshop):
    ann, code = _ann_and_her_code(bookshop)
    visitor = bookshop.test_client()
    assert visitor.get(f"/r/{code}", headers=BROWSER).location == "/join"
    assert _join(visitor, "bob").status_code == 302  # the cookie prefilled the code
    referral = _scalar(bookshop, sa.select(Referral))
    assert (referral.referrer_id, referral.referred_id) == (ann, _uid(bookshop, "bob"))
    assert visitor.get_cookie("ref") is None  # the capture is cleared
    owner = bookshop.test_client()
    owner.get(f"/as/{ann}")
    page = owner.get("/referrals").get_data(as_text=True)
    assert "bob" in page and code in page  # shown by username, the default name


def test_an_unknown_typed_code_is_the_hosts_message_and_nothing_is_written(bookshop):
    response = _join(bookshop.test_client(), "eve", code="ZZZZ9999")
    assert response.status_code == 400
    assert "That referral code does not exist." in response.get_data(as_text=True)
    assert _scalar(bookshop, sa.select(sa.func.count()).select_from(Reader)) == 0
    assert _scalar(bookshop, sa.select(sa.func.count(ReferralAccount.user_id))) == 0


def test_a_cleared_code_field_means_no_referral(bookshop):
    _join(bookshop.test_client(), "ann")
    with bookshop.app_context():
        code = code_of(_uid(bookshop, "ann"))
    visitor = bookshop.test_client()
    visitor.get(f"/r/{code}", headers=BROWSER)
    assert _join(visitor, "bob", code="").status_code == 302
    assert _scalar(bookshop, sa.select(sa.func.count(Referral.id))) == 0


def test_signals_follow_the_hosts_commit_not_its_rollback(bookshop):
    seen = []

    def note(_app, user, referral):
        seen.append(user.username)

    signals.user_signed_up.connect(note)
    try:
        _join(bookshop.test_client(), "ann")
        _join(bookshop.test_client(), "eve", code="ZZZZ9999")  # rolled back
    finally:
        signals.user_signed_up.disconnect(note)
    assert seen == ["ann"]


def _reader(username: str) -> Reader:
    """A reader added and flushed the way the bookshop's own form does it."""
    reader = Reader(username=username, email=f"{username}@example.com", secret="")
    shelf.session.add(reader)
    shelf.session.flush()
    return reader


def test_signals_wait_for_the_hosts_commit_past_its_savepoints(bookshop):
    seen = []

    def note(_app, user, referral):
        seen.append(user.username)

    signals.user_signed_up.connect(note)
    try:
        with bookshop.test_request_context():
            attribute_signup(_reader("ann"))
            with shelf.session.begin_nested():  # the host's own savepoint
                _reader("ann-shelf")
            assert seen == []  # released, but the host has not committed
            shelf.session.rollback()
            assert seen == []
            attribute_signup(_reader("bob"))
            try:
                with shelf.session.begin_nested():  # a signup the host undoes
                    attribute_signup(_reader("eve"))
                    raise LookupError
            except LookupError:
                pass
            shelf.session.commit()
            attribute_signup(_reader("cy"))
            shelf.session.close()  # ended without a commit
            _reader("dan")
            shelf.session.commit()  # a later commit is not cy's
    finally:
        signals.user_signed_up.disconnect(note)
    assert seen == ["bob"]


def test_the_plugins_signup_pages_are_not_registered(bookshop):
    client = bookshop.test_client()
    assert client.get("/signup").status_code == 404
    assert client.post("/referrals/delete").status_code == 404


def test_the_signup_limit_applies_to_the_hosts_view(bookshop):
    statuses = [_join(bookshop.test_client(), f"u{n}").status_code for n in range(6)]
    assert statuses == [302] * 5 + [429]


def test_admin_pages_follow_the_hosts_role(bookshop):
    _join(bookshop.test_client(), "ann")
    ann = _uid(bookshop, "ann")
    client = bookshop.test_client()
    client.get(f"/as/{ann}")
    assert client.get("/admin").status_code == 403
    with bookshop.app_context():
        shelf.session.get(Reader, ann).role = "admin"
        shelf.session.commit()
    assert client.get("/admin").status_code == 200
    assert client.get(f"/admin/referrers/{ann}").status_code == 200


def test_forgetting_readers_keeps_counts_and_never_clashes(bookshop):
    _join(bookshop.test_client(), "ann")
    ann = _uid(bookshop, "ann")
    with bookshop.app_context():
        code = code_of(ann)
    for name in ("bob", "cat"):
        visitor = bookshop.test_client()
        visitor.get(f"/r/{code}", headers=BROWSER)
        _join(visitor, name)
        # Two deletions: the host's unique columns are its own to scrub.
        assert visitor.post("/leave").status_code == 302
    gone = bookshop.test_client()
    gone.get(f"/as/{ann}")
    assert gone.post("/leave").status_code == 302
    assert _scalar(bookshop, sa.select(sa.func.count(Referral.id))) == 2
    deleted = sa.select(sa.func.count()).where(ReferralAccount.deleted_at.is_not(None))
    assert _scalar(bookshop, deleted) == 3
    visitor = bookshop.test_client()
    visitor.get(f"/r/{code}", headers=BROWSER)
    assert visitor.get_cookie("ref") is None  # the forgotten code is dead


def test_a_conversion_for_a_string_keyed_reader_grants_rewards(bookshop):
    _join(bookshop.test_client(), "ann")
    with bookshop.app_context():
        code = code_of(_uid(bookshop, "ann"))
    visitor = bookshop.test_client()
    visitor.get(f"/r/{code}", headers=BROWSER)
    _join(visitor, "bob")
    with bookshop.app_context():
        record_conversion(
            _uid(bookshop, "bob"),
            kind="purchase",
            amount=2500,
            currency="USD",
            external_id="order-1",
        )
    owners = {row for row in _rewarded(bookshop)}
    assert owners == {_uid(bookshop, "ann"), _uid(bookshop, "bob")}


def _rewarded(app) -> list:
    with app.app_context():
        return list(shelf.session.scalars(sa.select(Reward.user_id)))


def test_a_stale_cookie_without_a_code_field_joins_unreferred(bookshop):
    ann, code = _ann_and_her_code(bookshop)
    visitor = bookshop.test_client()
    visitor.get(f"/r/{code}", headers=BROWSER)
    owner = bookshop.test_client()
    owner.get(f"/as/{ann}")
    owner.post("/leave")  # forgotten: the visitor's cookie now names no one
    assert visitor.post("/quick-join/bob", headers=BROWSER).status_code == 302
    assert _scalar(bookshop, sa.select(sa.func.count(Referral.id))) == 0
    assert _uid(bookshop, "bob") is not None


def test_a_signup_without_a_code_field_takes_the_cookies_referrer(bookshop):
    ann, code = _ann_and_her_code(bookshop)
    visitor = bookshop.test_client()
    visitor.get(f"/r/{code}", headers=BROWSER)
    assert visitor.post("/quick-join/bob", headers=BROWSER).status_code == 302
    assert _scalar(bookshop, sa.select(Referral.referrer_id)) == ann
