"""The login page ties each error to its field and puts the focus there."""

import re

import pytest

from django.test import Client

pytestmark = pytest.mark.django_db


def field_tag(html: str, name: str) -> str:
    match = re.search(rf'<input[^>]*name="{name}"[^>]*>', html)
    assert match, name
    return match.group(0)


def test_a_field_error_is_described_and_focused(client: Client):
    response = client.post(
        "/console/login/", {"username": "someone", "password": "x", "code": "12"}
    )
    html = response.content.decode()
    code = field_tag(html, "code")
    assert 'aria-invalid="true"' in code
    assert 'aria-describedby="id_code_error"' in code
    assert re.search(r'id="id_code_error"[^>]*>\s*<p>', html)
    assert " autofocus" in code
    assert " autofocus" not in field_tag(html, "username")


def test_a_refusal_is_tied_to_the_identifier_which_gets_focus(client: Client):
    response = client.post(
        "/console/login/",
        {"username": "nobody-here", "password": "wrong-password", "code": "123456"},
    )
    assert response.status_code == 400
    html = response.content.decode()
    username = field_tag(html, "username")
    assert 'aria-describedby="login-error"' in username
    assert 'aria-invalid="true"' in username
    assert " autofocus" in username
    assert 'id="login-error"' in html


def test_the_first_visit_focuses_the_identifier_and_claims_no_error(client: Client):
    html = client.get("/console/login/").content.decode()
    username = field_tag(html, "username")
    assert " autofocus" in username
    assert "aria-invalid" not in html
