"""The visitor side over HTTP: the page, its headers, the commune search."""

import re
from html import unescape
from html.parser import HTMLParser

import pytest

from tests.factories import make_commune

VISITOR_URL = "/"


class InlineCode(HTMLParser):
    """Collect what a strict Content-Security-Policy would block."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name for name, _value in attrs}
        if tag == "style":
            self.found.append("<style>")
        if tag == "script" and "src" not in names:
            self.found.append("inline <script>")
        if "style" in names:
            self.found.append(f"style= on <{tag}>")
        self.found += [f"{name}= on <{tag}>" for name in names if name.startswith("on")]
        for name, value in attrs:
            if name in ("src", "href") and value and re.match(r"(https?:)?//", value):
                if tag != "a":
                    self.found.append(f"third-party {name} on <{tag}>")


def test_visitor_page_sets_no_cookie_no_cache_no_referrer(client):
    response = client.get(VISITOR_URL)
    assert response.status_code == 200
    assert response.cookies == {}
    assert "Set-Cookie" not in response.headers
    assert "no-store" in response["Cache-Control"]
    assert response["Referrer-Policy"] == "no-referrer"
    assert response["X-Frame-Options"] == "DENY"
    assert b"csrfmiddlewaretoken" not in response.content


def test_visitor_page_has_a_strict_content_security_policy(client):
    response = client.get(VISITOR_URL)
    directives = dict(
        part.strip().split(" ", 1)
        for part in response["Content-Security-Policy"].split(";")
    )
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["connect-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in response["Content-Security-Policy"]


def test_visitor_page_has_no_inline_code_and_no_third_party_asset(client):
    parser = InlineCode()
    parser.feed(client.get(VISITOR_URL).content.decode())
    assert parser.found == []


def test_visitor_page_is_french_by_default_english_on_request(client):
    french = client.get(VISITOR_URL, HTTP_ACCEPT_LANGUAGE="en-GB,en;q=0.9")
    assert french["Content-Language"] == "fr"
    assert '<html lang="fr">' in french.content.decode()
    assert "Parler à quelqu'un, anonymement" in unescape(french.content.decode())

    english = client.get(VISITOR_URL, {"lang": "en"})
    assert english["Content-Language"] == "en"
    page = english.content.decode()
    assert '<html lang="en">' in page
    assert "Talk to someone, anonymously" in page
    assert "Quick exit" in page
    assert english.cookies == {}

    unknown = client.get(VISITOR_URL, {"lang": "xx"})
    assert unknown["Content-Language"] == "fr"


def test_visitor_page_rejects_other_methods(client):
    assert client.post(VISITOR_URL).status_code == 405


@pytest.mark.django_db
def test_commune_search_returns_choices_without_cookie(client):
    make_commune()
    make_commune("33449", "Saint-Médard-en-Jalles", postal_codes=("33160",))
    response = client.get("/api/communes/", {"q": "saint-med"})
    assert response.status_code == 200
    assert response.json() == {
        "results": [
            {
                "code_insee": "33449",
                "name": "Saint-Médard-en-Jalles",
                "postal_code": "33160",
                "department": "33",
            }
        ]
    }
    assert response.cookies == {}
    assert "no-store" in response["Cache-Control"]
    assert (
        client.get("/api/communes/", {"q": "3316"}).json()["results"][0]["code_insee"]
        == "33449"
    )


@pytest.mark.django_db
def test_commune_search_ignores_short_or_long_queries(client):
    make_commune()
    assert client.get("/api/communes/", {"q": "b"}).json() == {"results": []}
    assert client.get("/api/communes/").json() == {"results": []}
    assert client.get("/api/communes/", {"q": "x" * 500}).json() == {"results": []}


def test_favicon_is_empty(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 204
    assert response.cookies == {}
