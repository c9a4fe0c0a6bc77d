"""The statistics page, its CSV exports and the visitor's feedback post."""

import csv
import io
import json

import pytest

from chat.models import Conversation
from chat.services.conversations import do_leave_conversation
from console.models import StaffProfile
from console.services import do_create_login_session
from stats.models import Feedback, FeedbackGuard
from stats.periods import make_period
from stats.selectors import compute_figures
from tests.factories import make_conversation, make_staff

pytestmark = pytest.mark.django_db

MARCH = "?period=month&date=2026-03-01"


def log_in(client, user) -> None:
    client.cookies["sessionid"] = do_create_login_session(user)


def read_csv(response) -> list[list[str]]:
    text = b"".join(
        response.streaming_content if response.streaming else [response.content]
    )
    return list(csv.reader(io.StringIO(text.decode("utf-8-sig"))))


def test_only_supervisors_and_administrators_open_the_page(client, world):
    assert client.get("/console/statistics/").status_code == 302
    assert client.get("/console/statistics/summary.csv").status_code == 302
    for user in (
        world.operator_user,
        world.psychologist.user,
        make_staff(roles=(StaffProfile.Role.PSYCHOLOGIST,)),
    ):
        log_in(client, user)
        assert client.get("/console/statistics/" + MARCH).status_code == 403
        assert client.get("/console/statistics/summary.csv" + MARCH).status_code == 403
    log_in(client, world.supervisor_a)
    page = client.get("/console/statistics/" + MARCH)
    assert page.status_code == 200
    assert "no-store" in page["Cache-Control"]
    # A supervisor reads their own services only.
    assert client.get("/console/statistics/?service=service-b").status_code == 403
    log_in(client, world.administrator)
    assert client.get("/console/statistics/?service=service-b").status_code == 200


def test_password_without_second_factor_is_refused(client, world):
    client.cookies["sessionid"] = do_create_login_session(
        world.administrator, verified=False
    )
    assert client.get("/console/statistics/").status_code == 302


def test_the_page_draws_each_chart_with_its_table(client, world):
    log_in(client, world.administrator)
    page = client.get("/console/statistics/" + MARCH).content.decode()
    assert page.count('role="img"') == 4
    for slug in ("summary", "series", "outcomes", "heatmap", "comparison", "quality"):
        assert f'id="table-{slug}"' in page
        assert f"/console/statistics/{slug}.csv?period=month" in page
    assert "Statistiques" in page
    assert '<details class="chart-data">' in page
    printed = client.get("/console/statistics/" + MARCH + "&print=1").content.decode()
    assert printed.count('<details class="chart-data" open>') == 4


def test_csv_has_the_same_figures(client, world):
    log_in(client, world.administrator)
    rows = read_csv(client.get("/console/statistics/summary.csv" + MARCH))
    values = {row[0]: row[1] for row in rows[1:]}
    figures = compute_figures(
        make_period("month", __import__("datetime").date(2026, 3, 1))
    )
    assert values["Conversations commencées"] == str(figures.started) == "7"
    assert values["Conversations prises en charge"] == "5"
    assert values["Taux d'abandon en attente"] == str(round(2 / 7, 4))
    quality = read_csv(client.get("/console/statistics/quality.csv" + MARCH))
    assert quality[0] == ["Mesure", "Conversations", "Médiane", "90ᵉ centile"]
    assert quality[1][1:] == ["5", "300.0", "1200.0"]
    heat = read_csv(client.get("/console/statistics/heatmap.csv" + MARCH))
    assert heat[2][0] == "mardi" and heat[2][1 + 23] == "1"
    b_only = read_csv(
        client.get("/console/statistics/summary.csv" + MARCH + "&service=service-b")
    )
    assert b_only[1][1] == "1"
    assert client.get("/console/statistics/nothing.csv").status_code == 404
    assert client.get("/console/statistics/?period=week&date=bad").status_code == 400
    assert (
        client.get(
            "/console/statistics/?period=custom&start=2026-03-10&end=2026-03-01"
        ).status_code
        == 400
    )


def test_custom_period_and_the_week(client, world):
    log_in(client, world.administrator)
    rows = read_csv(
        client.get(
            "/console/statistics/summary.csv?period=custom&start=2026-03-10&end=2026-03-17"
        )
    )
    assert rows[1][1] == "5"  # c1, c2, c4, c5, c6
    week = read_csv(
        client.get("/console/statistics/summary.csv?period=week&date=2026-03-12")
    )
    assert week[1][1] == "3"  # Monday 9 to Sunday 15 March: c1, c2, c4


def finished_conversation(world):
    conversation, token = make_conversation(world.a)
    do_leave_conversation(Conversation.objects.get(id=conversation.id))
    return token


def post_feedback(client, **body):
    return client.post("/feedback/", json.dumps(body), content_type="application/json")


def test_feedback_is_stored_once_and_unlinked(client, world, clock):
    clock.at("2026-03-20 18:00")
    token = finished_conversation(world)
    clock.at("2026-03-20 18:05")
    answer = post_feedback(client, token=token, answer="yes", comment="=Merci")
    assert answer.status_code == 201
    again = post_feedback(client, token=token, answer="no")
    assert again.status_code == 409
    assert again.json()["error"] == "already_answered"
    stored = Feedback.objects.get()
    assert (stored.service_id, str(stored.day), stored.answer) == (
        world.a.id,
        "2026-03-20",
        "yes",
    )
    assert {f.name for f in Feedback._meta.get_fields()} == {
        "id",
        "service",
        "day",
        "answer",
        "comment",
    }
    assert token not in FeedbackGuard.objects.get().digest
    figures = compute_figures(make_period("month", stored.day))
    assert dict(figures.feedback) == {"yes": 1}
    log_in(client, world.administrator)
    rows = read_csv(client.get("/console/statistics/comments.csv" + MARCH))
    # A comment starting like a formula is defused in the CSV.
    assert rows[1][2] == "'=Merci"


def test_feedback_refusals_change_nothing(client, world, clock):
    conversation, open_token = make_conversation(world.a)
    assert post_feedback(client, token=open_token, answer="yes").status_code == 404
    token = finished_conversation(world)
    assert post_feedback(client, token="nope", answer="yes").status_code == 404
    assert post_feedback(client, token=token, answer="maybe").status_code == 400
    assert (
        post_feedback(client, token=token, answer="yes", comment=5).status_code == 400
    )
    long = post_feedback(client, token=token, answer="yes", comment="x" * 1001)
    assert long.status_code == 413
    assert (
        client.post("/feedback/", "[1]", content_type="application/json").status_code
        == 400
    )
    assert client.get("/feedback/").status_code == 405
    clock.now = clock.now + __import__("datetime").timedelta(hours=7)
    assert post_feedback(client, token=token, answer="yes").status_code == 404
    assert not Feedback.objects.exists()
    assert not FeedbackGuard.objects.exists()


def test_the_console_top_bar_links_supervisors_to_the_page(client, world):
    log_in(client, world.operator_user)
    assert "/console/statistics/" not in client.get("/console/").content.decode()
    log_in(client, world.supervisor_a)
    assert 'href="/console/statistics/"' in client.get("/console/").content.decode()


def test_the_page_in_english(client, world):
    log_in(client, world.administrator)
    client.post("/i18n/setlang/", {"language": "en", "next": "/console/statistics/"})
    page = client.get("/console/statistics/" + MARCH).content.decode()
    assert '<html lang="en"' in page
    assert "Key figures" in page
    assert "Conversations started by day and hour" in page
    assert "Tuesday" in page
