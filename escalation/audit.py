"""The tamper-evident audit trail (docs/security.md §B5).

Every entry is chained to the one before by an HMAC-SHA256 under the
day's key: ``mac_n = HMAC(key_day, mac_{n-1} | canonical(entry_n))``.
The key moves forward once a day, ``key_{d+1} = HMAC(key_d, "next")``,
and the previous one is overwritten: whoever takes the web tier today
holds today's key only, and cannot recompute yesterday's entries without
the mismatch showing. The verifier starts again from the day-0 seed
(``AUDIT_CHAIN_SEED``) and re-derives each day's key.

The chain's head is regularly signed with Ed25519 and written as a file
outside the database (``AUDIT_CHECKPOINT_DIR``), so cutting entries off
the end, or rewriting the whole chain with a stolen seed, disagrees with
a checkpoint taken before.

On PostgreSQL a trigger refuses UPDATE and DELETE on the table and the
web role has neither right (escalation/migrations, anonymity/sql).
"""

import base64
import hashlib
import hmac
import json
import logging
import os
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, transaction
from django.utils import timezone

from escalation.models import AuditChainState, AuditEvent

logger = logging.getLogger(__name__)

GENESIS_MAC = "0" * 64
STATE_ID = 1


# -- keys ------------------------------------------------------------------


def _decode_secret(name: str) -> bytes:
    value = getattr(settings, name, "")
    if not value:
        raise ImproperlyConfigured(f"{name} is not set (see .env.example)")
    try:
        raw = base64.urlsafe_b64decode(value.encode())
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be base64") from None
    if len(raw) < 32:
        raise ImproperlyConfigured(f"{name} must hold at least 32 bytes")
    return raw


def get_seed() -> bytes:
    return _decode_secret("AUDIT_CHAIN_SEED")


def next_key(key: bytes) -> bytes:
    """Return the next day's key; the old one cannot be found from it."""
    return hmac.new(key, b"next", hashlib.sha256).digest()


def get_signing_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(
        _decode_secret("AUDIT_SIGNING_KEY")[:32]
    )


def get_verify_key() -> Ed25519PublicKey:
    return get_signing_key().public_key()


def public_key_hex(key: Ed25519PublicKey | None = None) -> str:
    key = key or get_verify_key()
    return key.public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    ).hex()


def canonical(data: Any) -> bytes:
    return json.dumps(
        data, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode()


def sign_document(document: dict[str, Any]) -> dict[str, Any]:
    """Wrap ``document`` with an Ed25519 signature over its canonical form."""
    signature = get_signing_key().sign(canonical(document))
    return {
        "document": document,
        "signature": {
            "algorithm": "Ed25519",
            "public_key": public_key_hex(),
            "value": base64.b64encode(signature).decode(),
            "signed": "canonical JSON of 'document': keys sorted, no spaces, UTF-8",
        },
    }


def verify_document(
    signed: dict[str, Any], key: Ed25519PublicKey | None = None
) -> bool:
    key = key or get_verify_key()
    try:
        key.verify(
            base64.b64decode(signed["signature"]["value"]),
            canonical(signed["document"]),
        )
    except (InvalidSignature, KeyError, ValueError, TypeError):
        return False
    return True


# -- writing -----------------------------------------------------------------


def entry_payload(event: AuditEvent) -> dict[str, Any]:
    return {
        "seq": event.seq,
        "at": event.at.astimezone(UTC).isoformat(timespec="microseconds"),
        "day": event.day.isoformat(),
        "kind": event.kind,
        "actor_id": event.actor_id,
        "actor": event.actor,
        "subject": event.subject,
        "data": event.data,
    }


def compute_mac(key: bytes, prev_mac: str, event: AuditEvent) -> str:
    message = prev_mac.encode() + b"|" + canonical(entry_payload(event))
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def _today() -> date:
    return timezone.now().astimezone(UTC).date()


def _locked_state() -> AuditChainState:
    state = AuditChainState.objects.select_for_update().filter(id=STATE_ID).first()
    if state is not None:
        return state
    try:
        with transaction.atomic():
            AuditChainState.objects.create(
                id=STATE_ID, day=_today(), key=get_seed(), head_mac=GENESIS_MAC
            )
    except IntegrityError:
        pass  # another process started the chain first
    return AuditChainState.objects.select_for_update().get(id=STATE_ID)


def actor_fields(actor: Any) -> dict[str, Any]:
    """Return the actor's id and the name staff know them by."""
    if actor is None:
        return {"actor_id": None, "actor": ""}
    profile = getattr(actor, "staff", None)
    try:
        label = profile.pseudonym if profile is not None else ""
    except Exception:  # noqa: BLE001 - a missing profile is not an error
        label = ""
    return {"actor_id": actor.pk, "actor": f"{actor.get_username()} ({label})"[:150]}


def record_event(
    kind: str,
    *,
    actor: Any = None,
    subject: str = "",
    data: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one entry to the trail, inside the caller's transaction.

    The chain state row is locked until the caller commits, so entries
    are numbered and chained one at a time across processes; if the
    caller's write rolls back, so does its entry.
    """
    with transaction.atomic():
        state = _locked_state()
        today = _today()
        if state.day < today:
            _advance_state(state, today)
        key = bytes(state.key)
        event = AuditEvent(
            seq=state.head_seq + 1,
            at=timezone.now(),
            day=state.day,
            kind=kind,
            subject=subject[:80],
            data=json.loads(canonical(data or {})),
            prev_mac=state.head_mac,
            **actor_fields(actor),
        )
        event.mac = compute_mac(key, state.head_mac, event)
        event.save()
        state.head_seq, state.head_mac = event.seq, event.mac
        state.save(update_fields=["head_seq", "head_mac", "day", "key"])
        return event


def _advance_state(state: AuditChainState, today: date) -> None:
    """Move the key forward to ``today``, overwriting the old one.

    The head as it stood at the end of the old day is checkpointed first.
    """
    if state.head_seq > state.last_checkpoint_seq:
        transaction.on_commit(write_checkpoint)
    key = bytes(state.key)
    day = state.day
    while day < today:
        key = next_key(key)
        day += timedelta(days=1)
    state.key, state.day = key, day


# -- checkpoints --------------------------------------------------------------


def write_checkpoint() -> Path | None:
    """Sign the chain's head and write it outside the database.

    Returns the file written, or None when nothing is new since the last
    checkpoint. A write failure is logged loudly and never breaks the
    action that triggered it.
    """
    with transaction.atomic():
        state = AuditChainState.objects.select_for_update().filter(id=STATE_ID).first()
        if state is None or state.head_seq == state.last_checkpoint_seq:
            return None
        first = AuditEvent.objects.filter(seq=1).values_list("mac", flat=True).first()
        document = {
            "type": "ecoute-audit-checkpoint",
            # Names the chain: a folder shared by two databases says so.
            "chain": first or "",
            "seq": state.head_seq,
            "mac": state.head_mac,
            "day": state.day.isoformat(),
            "written_at": timezone.now().astimezone(UTC).isoformat(),
        }
        folder = Path(settings.AUDIT_CHECKPOINT_DIR)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"checkpoint-{state.head_seq:012d}.json"
            temporary = path.with_suffix(".tmp")
            temporary.write_text(json.dumps(sign_document(document), indent=1))
            os.replace(temporary, path)
        except OSError as error:
            logger.critical("audit checkpoint not written: %s", error)
            return None
        state.last_checkpoint_seq = state.head_seq
        state.save(update_fields=["last_checkpoint_seq"])
        return path


def read_checkpoints() -> list[tuple[Path, dict[str, Any] | None]]:
    """Return every checkpoint file with its document, None if unsigned."""
    folder = Path(settings.AUDIT_CHECKPOINT_DIR)
    if not folder.is_dir():
        return []
    found = []
    key = get_verify_key()
    for path in sorted(folder.glob("checkpoint-*.json")):
        try:
            signed = json.loads(path.read_text())
        except (OSError, ValueError):
            found.append((path, None))
            continue
        found.append(
            (path, signed["document"] if verify_document(signed, key) else None)
        )
    return found


# -- verification -------------------------------------------------------------


@dataclass
class ChainReport:
    """What ``verify_chain`` found; ``first_bad`` names the first bad entry."""

    ok: bool = True
    count: int = 0
    head_seq: int = 0
    head_mac: str = GENESIS_MAC
    first_bad: int | None = None
    problem: str = ""
    checkpoints: int = 0
    macs_checked: bool = True
    checked_at: datetime = field(default_factory=timezone.now)

    def fail(self, seq: int | None, problem: str) -> "ChainReport":
        self.ok, self.first_bad, self.problem = False, seq, problem
        return self

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "count": self.count,
            "head_seq": self.head_seq,
            "head_mac": self.head_mac,
            "first_bad": self.first_bad,
            "problem": self.problem,
            "checkpoints": self.checkpoints,
            "macs_checked": self.macs_checked,
            "checked_at": self.checked_at.astimezone(UTC).isoformat(),
        }


def verify_chain() -> ChainReport:
    """Re-derive every day's key from the seed and check every entry.

    Entries are read in storage order: a missing number means a deleted
    entry, a number out of order a moved one, a wrong MAC a changed one.
    Then the head is checked against every signed checkpoint.
    """
    report = ChainReport()
    try:
        key: bytes | None = get_seed()
    except ImproperlyConfigured:
        # A web tier run without the seed (kept with the verifier): order,
        # links and checkpoints are still checked; the MACs are not.
        key = None
        report.macs_checked = False
    key_day: date | None = None
    expected_prev = GENESIS_MAC
    expected_seq = 1
    last_day: date | None = None
    macs: dict[int, str] = {}
    for event in AuditEvent.objects.order_by("id").iterator(chunk_size=2000):
        if event.seq != expected_seq:
            if AuditEvent.objects.filter(seq=expected_seq).exists():
                return report.fail(
                    expected_seq, f"entry #{expected_seq} is out of order (moved)"
                )
            return report.fail(
                expected_seq, f"entry #{expected_seq} is missing (deleted)"
            )
        if key_day is None:
            key_day = event.day
        if last_day is not None and event.day < last_day:
            return report.fail(event.seq, f"entry #{event.seq} goes back in time")
        while key is not None and key_day < event.day:
            key = next_key(key)
            key_day += timedelta(days=1)
        if event.prev_mac != expected_prev:
            return report.fail(event.seq, f"entry #{event.seq} is not chained")
        if key is not None and not hmac.compare_digest(
            compute_mac(key, expected_prev, event), event.mac
        ):
            return report.fail(event.seq, f"entry #{event.seq} was changed")
        macs[event.seq] = event.mac
        expected_prev, last_day = event.mac, event.day
        expected_seq += 1
        report.count += 1
    report.head_seq, report.head_mac = expected_seq - 1, expected_prev
    state = AuditChainState.objects.filter(id=STATE_ID).first()
    if state is not None and state.head_seq > report.head_seq:
        return report.fail(
            report.head_seq + 1,
            f"entries #{report.head_seq + 1} to #{state.head_seq} are missing",
        )
    for path, document in read_checkpoints():
        if document is None:
            return report.fail(None, f"checkpoint {path.name} has a bad signature")
        report.checkpoints += 1
        if document.get("chain") and document["chain"] != macs.get(1):
            return report.fail(
                1,
                f"checkpoint {path.name} is of another chain, or entry #1 "
                "was rewritten",
            )
        seq = int(document["seq"])
        if seq > report.head_seq:
            return report.fail(
                report.head_seq + 1,
                f"checkpoint {path.name} saw entry #{seq}: "
                f"entries after #{report.head_seq} are missing",
            )
        if macs.get(seq) != document["mac"]:
            return report.fail(seq, f"entry #{seq} differs from {path.name}")
    return report


def chain_proof(seqs: list[int]) -> dict[str, Any]:
    """Return what a reader needs to check that ``seqs`` belong to the chain.

    Each entry comes with its predecessor's MAC and its own; the newest
    signed checkpoint ties the chain to a head signed outside the database.
    """
    checkpoint = None
    folder = Path(settings.AUDIT_CHECKPOINT_DIR)
    files = sorted(folder.glob("checkpoint-*.json")) if folder.is_dir() else []
    if files:
        try:
            checkpoint = json.loads(files[-1].read_text())
        except (OSError, ValueError):
            checkpoint = None
    return {
        "entries": [
            {"seq": e.seq, "prev_mac": e.prev_mac, "mac": e.mac}
            for e in AuditEvent.objects.filter(seq__in=seqs).order_by("seq")
        ],
        "latest_checkpoint": checkpoint,
        "verification": verify_chain().as_dict(),
    }
