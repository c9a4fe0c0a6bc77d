"""Every figure of a hand-built month, checked against its true value."""

from datetime import UTC, date, datetime, timedelta

import pytest

from chat.models import Conversation, Message
from chat.services import do_start_conversation
from console.services.participation import (
    check_leave_conversation,
    do_accept_invitation,
    do_answer_invitation,
    do_invite,
)
from retention.purge import do_purge_expired
from stats.aggregate import do_materialize, offset_intervals
from stats.periods import make_period
from stats.selectors import compute_figures, percentile

pytestmark = pytest.mark.django_db

MARCH = make_period("month", date(2026, 3, 10))


def test_counts_for_the_platform(world):
    figures = compute_figures(MARCH)
    assert figures.started == 7  # c1–c7; c8 is April in Paris time
    assert figures.handled == 5  # c1, c2, c3, c5, c6
    assert figures.abandoned_waiting == 2  # c4, c7
    assert figures.abandonment_rate == pytest.approx(2 / 7)
    assert figures.left_before_reply == 1  # c5
    assert figures.open_now == 0
    assert dict(figures.outcomes) == {
        "report": 1,
        "orientation": 1,
        "information": 1,
        "other": 1,
        "visitor_left": 1,
    }
    assert dict(figures.roles) == {"victim": 5, "witness": 1, "professional": 1}
    assert dict(figures.categories) == {"violences conjugales": 2, "harcèlement": 1}
    assert dict(figures.departments) == {"33": 7}
    # c6 passed through both services: once in each, once in the total.
    assert dict(figures.services) == {"Service A": 7, "Service B": 1}


def test_quality_measures_use_real_elapsed_time(world):
    figures = compute_figures(MARCH)
    # Waits: c1 120, c2 300, c3 1200 (DST: 20 real minutes), c5 300, c6 60.
    assert figures.wait == {
        "n": 5,
        "median": pytest.approx(300, abs=1),
        "p90": pytest.approx(1200, abs=1),
    }
    # First staff reply after the first claim: c1 60, c2 600, c3 60, c6 60.
    assert figures.first_reply["n"] == 4
    assert figures.first_reply["median"] == pytest.approx(60, abs=1)
    assert figures.first_reply["p90"] == pytest.approx(600, abs=1)
    # Length from first claim to close: 1680, 1500, 1200, 60, 1740.
    assert figures.length["median"] == pytest.approx(1500, abs=1)
    assert figures.length["p90"] == pytest.approx(1740, abs=1)
    # Messages (visitor + staff, cards included): c1 2+2, c2 1, c3 1, c5 1, c6 1.
    assert figures.messages["n"] == 5
    assert figures.messages["median"] == 1
    assert figures.messages["p90"] == 4


def test_hours_and_weekdays_are_paris_time(world):
    figures = compute_figures(MARCH)
    assert dict(figures.heat) == {
        (2, 9): 1,  # c1 Tuesday 9 h
        (2, 23): 1,  # c2 Tuesday 23 h, although it ended on Wednesday
        (7, 1): 1,  # c3 Sunday 1 h, before the clocks went forward
        (7, 14): 1,  # c4
        (1, 10): 1,  # c5 Monday
        (2, 11): 1,  # c6
        (7, 0): 1,  # c7 Sunday 1 March 0 h (Saturday in UTC)
    }
    assert figures.by_weekday[7] == {
        "started": 3,
        "abandoned": 2,
        "rate": pytest.approx(2 / 3),
        "median_wait": pytest.approx(1200, abs=1),
    }
    assert figures.by_hour[23]["started"] == 1
    assert figures.by_hour[0]["abandoned"] == 1
    day_series = figures.series
    assert day_series[date(2026, 3, 10)]["started"] == 2
    assert day_series[date(2026, 3, 11)]["started"] == 0
    assert day_series[date(2026, 3, 1)]["abandoned"] == 1
    assert len(day_series) == 31


def test_the_dst_day_has_its_23_hours(world):
    day = make_period("day", date(2026, 3, 29))
    assert day.start_at.astimezone(UTC) == datetime(2026, 3, 28, 23, tzinfo=UTC)
    assert day.end_at.astimezone(UTC) == datetime(2026, 3, 29, 22, tzinfo=UTC)
    # 23:30 Paris (21:30 UTC) is in; 00:10 the next day (22:10 UTC) is not.
    world.start("2026-03-29 23:30")
    world.start("2026-03-30 00:10")
    figures = compute_figures(day)
    assert figures.started == 2
    assert figures.series[1]["started"] == 1
    assert figures.series[23]["started"] == 1
    assert figures.open_now == 1
    assert compute_figures(make_period("day", date(2026, 3, 30))).started == 1


def test_events(world):
    figures = compute_figures(MARCH)
    assert figures.events == {
        "transfers": 2,
        "handovers": 0,
        "psychologist_asked": 1,
        "psychologist_declined": 0,
        "psychologist_joins": 1,
        "callbacks": 1,
    }
    assert [
        (row["kind"], row["from_name"], row["to_name"], row["n"])
        for row in figures.transfers
    ] == [
        ("transfer", "Service A", "Service B", 1),
        ("transfer", "Service B", "Service A", 1),
    ]
    assert dict(figures.cards) == {"cidff": 1}
    assert figures.staff["operators"] == 1  # Alice closed every handled one
    # Operator-days by the day each conversation started: 10, 16, 17, 29.
    assert figures.staff["operator_days"] == 4
    assert figures.staff["max_per_operator_day"] == 2


def test_a_transfer_counts_once_per_service(world):
    only_b = compute_figures(MARCH, [world.b.id])
    assert only_b.started == 1
    assert only_b.handled == 1
    assert dict(only_b.services) == {"Service B": 1}
    assert only_b.events["transfers"] == 2
    assert only_b.events["transfers_in"] == 1
    assert only_b.events["transfers_out"] == 1
    both = compute_figures(MARCH, [world.a.id, world.b.id])
    assert both.started == 7
    assert both.events["transfers"] == 2


def test_year_over_year(world):
    previous = compute_figures(MARCH.previous_year(), light=True)
    assert previous.period.start == date(2025, 3, 1)
    assert previous.started == 1
    assert previous.handled == 1
    assert previous.outcomes["report"] == 1


def test_figures_are_the_same_after_purge(world, clock, settings):
    before = compute_figures(MARCH)
    before_b = compute_figures(MARCH, [world.b.id])
    assert Message.objects.filter(conversation_id=world.ids["c1"]).exists()
    clock.at("2031-01-01 12:00")
    record = do_purge_expired(now=clock.now)
    assert record.counts["messages"] > 0
    assert not Message.objects.exists()
    assert (
        not Conversation.objects.exclude(token_hash__startswith="purged:")
        .filter(status="closed")
        .exists()
    )
    assert compute_figures(MARCH) == before
    assert compute_figures(MARCH, [world.b.id]) == before_b


def test_percentile_is_nearest_rank():
    assert percentile([], 0.5) is None
    assert percentile([5.0], 0.9) == 5.0
    assert percentile([4.0, 1.0, 3.0, 2.0], 0.5) == 2.0
    assert percentile([float(n) for n in range(1, 11)], 0.9) == 9.0


def test_a_warm_handover_between_services(world, clock):
    conversation = world.start("2026-04-02 10:00")
    world.claim("2026-04-02 10:01", conversation, world.op_a)
    clock.at("2026-04-02 10:02")
    invitation = do_invite(
        Conversation.objects.get(id=conversation.id),
        role="operator",
        service=world.b,
        summary="",
        invited_by=world.op_a,
    )
    do_answer_invitation(invitation, accept=True)
    do_accept_invitation(world.op_b, invitation)
    clock.at("2026-04-02 10:05")
    assert check_leave_conversation(world.op_a, str(conversation.id)) == "handed_over"
    april = make_period("month", date(2026, 4, 1))
    figures = compute_figures(april)
    assert figures.events["handovers"] == 1
    assert figures.events["transfers"] == 0
    assert dict(figures.services) == {"Service A": 2, "Service B": 1}
    assert compute_figures(april, [world.b.id]).started == 1


def test_paris_offsets_change_on_the_right_utc_hours():
    year = make_period("year", date(2026, 6, 1))
    intervals = offset_intervals(year.start_at, year.end_at)
    assert [
        (low.isoformat(), high.isoformat(), offset) for low, high, offset in intervals
    ] == [
        ("2025-12-31T23:00:00+00:00", "2026-03-29T01:00:00+00:00", 3600),
        ("2026-03-29T01:00:00+00:00", "2026-10-25T01:00:00+00:00", 7200),
        ("2026-10-25T01:00:00+00:00", "2026-12-31T23:00:00+00:00", 3600),
    ]


def test_the_autumn_change_counts_the_repeated_hour_once_per_conversation(world):
    # 25 October 2026: 02:00–03:00 happens twice. One conversation in each.
    world.start("2026-10-25 02:30")  # the first 02:30, summer time
    assert world.clock.now.astimezone(UTC).hour == 0
    world.clock.at_utc("2026-10-25 01:30")  # the second 02:30, winter time
    conversation, _token = do_start_conversation(
        service=world.a, visitor_role="victim", commune=world.commune
    )
    figures = compute_figures(make_period("day", date(2026, 10, 25)))
    assert figures.started == 2
    assert figures.series[2]["started"] == 2
    assert figures.heat == {(7, 2): 2}


def test_final_rows_are_derived_once(world):
    compute_figures(MARCH)
    assert do_materialize(MARCH) == 0  # every March conversation is closed
    final = Conversation.objects.get(id=world.ids["c3"])
    assert final.stats_final
    assert final.wait_seconds == pytest.approx(1200, abs=0.01)
    assert final.stats_messages == 1


def test_purge_drops_feedback_guards_after_a_day(world, clock):
    from stats.models import FeedbackGuard

    FeedbackGuard.objects.create(digest="a" * 64)
    clock.now = clock.now + timedelta(hours=25)
    assert do_purge_expired(now=clock.now).counts["feedback_guards"] == 1
    assert not FeedbackGuard.objects.exists()


def test_escalation_figures_follow_the_escalation_app(world, client):
    """A gap while the escalation models are absent; their counts once present.

    With the models installed this runs every query against them, so a
    renamed field fails here rather than on the page.
    """
    from django.apps import apps

    figures = compute_figures(MARCH)
    try:
        apps.get_model("escalation", "ConsentRequest")
    except LookupError:
        assert figures.escalation is None
        return
    assert len(figures.escalation) == 9
    assert set(figures.escalation.values()) == {0}  # no escalation in this world
    assert compute_figures(MARCH, [world.b.id]).escalation is not None
