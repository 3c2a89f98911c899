"""The usual fixtures (app, make_user, client, admin) taken from the ``host`` of the
test, so a module that binds them at its top runs each of its tests on both hosts
(the site, then the bookshop: tests/hosts.py)::

    app, make_user = host_fixtures.app, host_fixtures.make_user
    client, admin = host_fixtures.client, host_fixtures.admin

(assigned rather than imported, so a test's ``app`` argument is not read as a
redefinition of an import).
"""

import pytest


@pytest.fixture
def app(host):
    """The host of the test: the site, then the bookshop (tests/hosts.py)."""
    return host.app


@pytest.fixture
def make_user(host):
    """People of the host, joining through its own signup."""
    return host.users


@pytest.fixture
def client(host):
    return host.client()


@pytest.fixture
def admin(host):
    """A signed-in admin's client (Boss)."""
    host.users("boss@example.com", "Boss", admin=True)
    client = host.client()
    host.sign_in(client, "boss@example.com")
    return client
