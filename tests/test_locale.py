"""French by default whatever the browser asks; English on request."""

import pytest

pytestmark = pytest.mark.django_db


def test_staff_login_is_french_even_for_an_english_browser(client):
    page = client.get("/console/login/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")
    assert page.status_code == 200
    assert '<html lang="fr"' in page.content.decode()


def test_english_is_chosen_explicitly(client):
    client.post("/i18n/setlang/", {"language": "en", "next": "/console/login/"})
    page = client.get("/console/login/")
    assert '<html lang="en"' in page.content.decode()
    cookie = client.cookies["django_language"]
    assert cookie["max-age"] == ""  # dies with the browser session
