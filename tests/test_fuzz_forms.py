"""Every form of every page, filled as a person would but for one hostile field:
never a 5xx, never a partial write, never a control character stored."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests import hostile_values, proof
from tests.conftest import PASSWORD
from tests.hostile_values import (
    PEOPLE,
    VALUES,
    assert_no_control_characters_stored,
    assert_sound,
    client_of,
    counts_of,
    fuzz_settings,
    spoiled,
    unique,
)
from tests.page_forms import PageForm, forms_on
from tests.routes import routes

#: The fixture (an admin, Ann, Carl, rewards, a flagged referral).
fuzz_app = hostile_values.fuzz_app


def _page_forms(app, who: str) -> list[PageForm]:
    """Every form on every page this visitor can open (but signing out)."""
    client = client_of(app, who)
    found = {}
    for _, path, methods in routes(app):
        if "GET" not in methods:
            continue
        for form in forms_on(path, client.get(path).get_data(as_text=True)):
            if form.action.startswith("/logout"):
                continue
            key = (form.action, form.method, tuple(form.fields), tuple(form.buttons))
            found.setdefault(key, form)
    return list(found.values())


def _typical(form: PageForm, name: str, given: list[str]) -> list[str] | str:
    """What a person would put in a field, so that the one hostile field is what
    decides the answer (a form the rest of which is refused tests little)."""
    n = next(unique)
    if name == "email":
        return f"fuzz{n}@example.org"
    if name == "password":
        # Deleting the account with the right password would end the run's session.
        return "not the password" if form.action.endswith("/delete") else PASSWORD
    typical = {"name": "Fuzz Person", "code": f"FUZZ{n}", "reason": "checked"}
    return typical.get(name, given if len(given) > 1 else given[0])


@pytest.mark.proof
@pytest.mark.parametrize("who", ["anonymous", "user", "admin"])
def test_every_form_survives_one_hostile_field(fuzz_app, who):
    """One field is a valid value with a control character in it, or any hostile
    value (injections, integers past every column's bounds...)."""
    forms = _page_forms(fuzz_app, who)
    assert forms, who
    signed_in = client_of(fuzz_app, who)
    tried, server_errors = [], []

    @fuzz_settings()
    @given(form=st.sampled_from(forms), data=st.data(), hostile=st.none() | VALUES)
    def attempt(form, data, hostile):
        fields = {n: _typical(form, n, given) for n, given in form.fields.items()}
        name = data.draw(st.sampled_from(sorted(fields)))
        typical = fields[name] if isinstance(fields[name], str) else fields[name][0]
        fields[name] = spoiled(data, typical) if hostile is None else hostile
        if form.buttons:
            fields.update([data.draw(st.sampled_from(form.buttons))])
        # A fresh visitor each time: a sign-in must not carry over.
        client = signed_in if PEOPLE[who] else fuzz_app.test_client()
        before = counts_of(fuzz_app)
        if form.method == "GET":
            response = client.get(form.action, query_string=fields)
        else:
            response = client.post(form.action, data=fields)
        tried.append(1)
        if response.status_code >= 500:
            server_errors.append((form.action, name))
        assert_sound(fuzz_app, response, before, (form.action, name, fields[name]))

    try:
        attempt()
    finally:
        proof.record("hostile_form_fields_tried", len(tried))
        proof.record("hostile_form_fields_5xx", len(server_errors))
    assert_no_control_characters_stored(fuzz_app)
