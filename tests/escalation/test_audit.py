"""The audit trail: chained, forward-keyed, checkpointed, verifiable."""

import json
from datetime import timedelta

import pytest

from django.core.management import call_command
from django.db import connection

from escalation import audit
from escalation.models import AuditChainState, AuditEvent
from tests.factories import make_staff

pytestmark = pytest.mark.django_db


def fill(count=4):
    for number in range(count):
        audit.record_event("test_event", subject=f"thing:{number}", data={"n": number})


def run_verify(capsys):
    try:
        call_command("verify_audit")
    except SystemExit as exit_:
        captured = capsys.readouterr()
        return exit_.code, captured.err
    return 0, capsys.readouterr().out


def test_untouched_trail_verifies(capsys):
    fill()
    code, out = run_verify(capsys)
    assert code == 0, out
    assert "Audit chain OK: 4 entries" in out


def test_changed_row_is_named(capsys):
    fill()
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE escalation_auditevent SET data = %s WHERE seq = 3",
            [json.dumps({"n": 99})],
        )
    code, err = run_verify(capsys)
    assert code == 1
    assert "entry #3 was changed" in err


def test_deleted_row_is_named(capsys):
    fill()
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM escalation_auditevent WHERE seq = 2")
    code, err = run_verify(capsys)
    assert code == 1
    assert "entry #2 is missing" in err


def test_reordered_rows_are_named(capsys):
    fill()
    with connection.cursor() as cursor:
        # Swap entries 2 and 3 wholesale (their numbers, MACs and all).
        cursor.execute("UPDATE escalation_auditevent SET seq = 1000 WHERE seq = 2")
        cursor.execute("UPDATE escalation_auditevent SET seq = 2 WHERE seq = 3")
        cursor.execute("UPDATE escalation_auditevent SET seq = 3 WHERE seq = 1000")
    code, err = run_verify(capsys)
    assert code == 1
    assert "entry #2 is out of order" in err


def test_recomputed_chain_without_the_seed_fails(capsys):
    """Rewriting an entry with today's key (all a thief has) is caught."""
    fill()
    event = AuditEvent.objects.get(seq=2)
    wrong_key = b"x" * 32
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE escalation_auditevent SET mac = %s WHERE seq = 2",
            [audit.compute_mac(wrong_key, event.prev_mac, event)],
        )
    code, err = run_verify(capsys)
    assert code == 1
    assert "entry #2 was changed" in err


def test_cut_tail_disagrees_with_signed_checkpoint(capsys, checkpoint_dir):
    fill()
    path = audit.write_checkpoint()
    assert path is not None and path.parent == checkpoint_dir
    signed = json.loads(path.read_text())
    assert audit.verify_document(signed)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM escalation_auditevent WHERE seq = 4")
        cursor.execute("UPDATE escalation_auditchainstate SET head_seq = 3")
    code, err = run_verify(capsys)
    assert code == 1
    assert "entries after #3 are missing" in err


def test_forged_checkpoint_is_refused(capsys, checkpoint_dir):
    fill()
    path = audit.write_checkpoint()
    signed = json.loads(path.read_text())
    signed["document"]["seq"] = 2
    path.write_text(json.dumps(signed))
    code, err = run_verify(capsys)
    assert code == 1
    assert "bad signature" in err


def test_key_moves_forward_and_old_key_is_gone(monkeypatch, capsys):
    fill(2)
    state = AuditChainState.objects.get()
    assert bytes(state.key) == audit.get_seed()
    tomorrow = state.day + timedelta(days=1)
    monkeypatch.setattr(audit, "_today", lambda: tomorrow)
    fill(2)
    state.refresh_from_db()
    assert state.day == tomorrow
    assert bytes(state.key) == audit.next_key(audit.get_seed())
    assert bytes(state.key) != audit.get_seed()
    assert AuditEvent.objects.get(seq=3).day == tomorrow
    code, out = run_verify(capsys)
    assert code == 0, out


def test_logins_and_role_changes_are_recorded(client):
    user = make_staff()
    assert AuditEvent.objects.filter(kind="account_created").exists()
    assert AuditEvent.objects.filter(
        kind="roles_changed", subject=f"user:{user.pk}"
    ).exists()
    profile = user.staff
    profile.roles = ["operator", "supervisor"]
    profile.save()
    change = AuditEvent.objects.filter(kind="roles_changed").last()
    assert change.data == {"before": ["operator"], "after": ["operator", "supervisor"]}
    user.is_active = False
    user.save()
    assert AuditEvent.objects.filter(kind="account_changed").last().data == {
        "is_active": [True, False]
    }
    client.force_login(user)
    assert AuditEvent.objects.filter(kind="staff_login", actor_id=user.pk).exists()


def test_without_the_seed_the_web_tier_appends_and_checks_what_it_can(settings, capsys):
    fill(2)  # the chain has started
    settings.AUDIT_CHAIN_SEED = ""
    fill(2)  # appending needs only the chain's state
    code, out = run_verify(capsys)
    assert code == 0
    assert "MACs NOT checked" in out
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM escalation_auditevent WHERE seq = 3")
    code, err = run_verify(capsys)
    assert code == 1 and "entry #3 is missing" in err
