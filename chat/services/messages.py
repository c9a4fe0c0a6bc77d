"""Storing messages with gapless numbering, notes and typing signals."""

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any
from uuid import UUID

from django.conf import settings
from django.contrib.auth.models import User
from django.db import (
    DEFAULT_DB_ALIAS,
    IntegrityError,
    connections,
    transaction,
)
from django.db.models import CharField, Field
from django.db.utils import load_backend
from django.utils import timezone
from django.utils.translation import gettext as _

from anonymity.crypto import cached_data_key, encrypt_message_body
from chat import events, refusals
from chat.errors import ChatError
from chat.models import Conversation, Message
from chat.selectors import render_message
from realtime.events import Event, send_event_on_commit
from realtime.loop_sqlite import loop_sqlite
from realtime.loop_sqlite import sql as sqlite_sql
from realtime.loopdb import Unavailable, loop_connections


def check_text(text: Any) -> str:
    """Return ``text`` if it is a non-empty string within the limit."""
    if not isinstance(text, str):
        raise ChatError("bad_request", _("Le champ text doit être un texte."))
    if len(text) > settings.CHAT_MAX_TEXT_CHARS:
        raise ChatError(
            "too_large",
            _("Message trop long (%(limit)s caractères au plus).")
            % {"limit": settings.CHAT_MAX_TEXT_CHARS},
        )
    if not text.strip():
        raise ChatError("bad_request", _("Le message est vide."))
    return text


def check_client_id(value: Any) -> UUID:
    try:
        return UUID(str(value)) if isinstance(value, str) else _bad_id()
    except ValueError:
        return _bad_id()


def _bad_id() -> UUID:
    raise ChatError("bad_request", _("Le champ id doit être un UUID."))


def check_send_message(
    conversation: Conversation,
    *,
    text: Any,
    client_id: Any,
    expect_seq: int | None = None,
) -> tuple[Message, bool]:
    """Validate and store a message from the visitor of ``conversation``.

    Returns the message and whether it was new (False when ``client_id``
    was already stored: the caller acks with the original seq). Staff
    messages go through ``console.services.check_send_staff_message``.
    ``expect_seq``: see ``do_send_message``.
    """
    draft = visitor_draft(conversation.id, text=text, client_id=client_id)
    stored = do_store_draft(draft, expect_seq=expect_seq)
    assert stored is not None  # noqa: S101 - no in_charge, never None.
    return stored


def visitor_draft(conversation_id: UUID, *, text: Any, client_id: Any) -> "Draft":
    """The visitor's message checked, as ``store_expected_in_loop`` takes it."""
    return new_draft(
        conversation_id,
        sender=Message.Sender.VISITOR,
        body=check_text(text),
        client_id=check_client_id(client_id),
    )


@dataclass(frozen=True)
class InCharge:
    """Who must be in charge for a staff message to take the fast path.

    The operator's user id and the services their held profile belongs to:
    the conversation's UPDATE matches only while that operator is in charge
    of it in one of those services, so the access rule and the write are
    one statement (issue 14). No match is not a refusal: the caller takes
    the full path, which knows every other case.
    """

    operator_id: int
    service_ids: tuple[int, ...]
    # One more SQL condition, with its parameters, for the write in one
    # statement (``expect_seq``): the console's access stamp check, which
    # the transaction of the usual path makes in a statement of its own.
    condition: tuple[str, tuple[Any, ...]] | None = None


def do_send_message(
    conversation_id: UUID,
    *,
    sender: str,
    body: str,
    client_id: UUID | None = None,
    author: User | None = None,
    author_id: int | None = None,
    author_name: str = "",
    card: dict[str, Any] | None = None,
    in_charge: InCharge | None = None,
    expect_seq: int | None = None,
) -> tuple[Message, bool] | None:
    """Store a message under the next seq; idempotent on ``client_id``.

    With ``in_charge``, returns None (and stores nothing) unless that
    operator is in charge of the open conversation in one of its services.

    ``expect_seq`` is the seq the caller expects the message to take: one
    more than the last its socket knows of. On PostgreSQL, outside a
    transaction, a right guess stores the message in one statement
    (``_store_expected``); a wrong one costs one statement that changes
    nothing, then the usual transaction runs.
    """
    draft = new_draft(
        conversation_id,
        sender=sender,
        body=body,
        client_id=client_id,
        author_id=author.pk if author is not None else author_id,
        author_name=author_name,
        card=card,
    )
    return do_store_draft(draft, in_charge=in_charge, expect_seq=expect_seq)


def do_store_draft(
    draft: "Draft",
    *,
    in_charge: InCharge | None = None,
    expect_seq: int | None = None,
) -> tuple[Message, bool] | None:
    """``do_send_message`` for a message already drafted (``new_draft``)."""
    if expect_seq is not None and draft.client_id is not None:
        stored = _store_expected(draft, expect_seq, in_charge)
        if stored is not None:
            return stored
    if in_charge is not None and in_charge.condition is not None:
        # Only the one statement checks that condition: without it, the
        # caller takes its full path, which checks it in a transaction.
        return None
    # The operator in charge writes inside the transaction that checked the
    # account (console.consumers ``write``): a savepoint there would cost two
    # more round trips on PostgreSQL, and that path raises nothing a caller
    # could survive (a stored client id is not an error, see
    # ``_insert_message``). Any other caller keeps it, so a refusal leaves
    # its transaction usable.
    with transaction.atomic(savepoint=in_charge is None):
        return _store_message(draft, in_charge)


def new_draft(
    conversation_id: UUID,
    *,
    sender: str,
    body: str,
    client_id: UUID | None = None,
    author_id: int | None = None,
    author_name: str = "",
    card: dict[str, Any] | None = None,
) -> "Draft":
    """A message to store, its first-reply instant taken now if staff's."""
    return Draft(
        conversation_id=conversation_id,
        sender=sender,
        body=body,
        client_id=client_id,
        author_id=author_id,
        author_name=author_name,
        card=card,
        reply_at=timezone.now() if sender in STAFF_SENDERS else None,
    )


@dataclass(frozen=True)
class Draft:
    """A message as its caller gives it, before it has a seq.

    ``reply_at`` is when a staff message counts as the first staff reply
    if it is one (None for the visitor's): the same instant on every path
    a write takes.
    """

    conversation_id: UUID
    sender: str
    body: str
    client_id: UUID | None
    author_id: int | None
    author_name: str
    card: dict[str, Any] | None
    reply_at: datetime | None

    def as_message(self, seq: int, key: bytes | None = None) -> Message:
        """The unsaved message under ``seq``, its body encrypted under it
        (with the conversation's data ``key`` if the caller holds it)."""
        return Message(
            conversation_id=self.conversation_id,
            seq=seq,
            sender=self.sender,
            author_id=self.author_id,
            author_name=self.author_name,
            client_id=self.client_id,
            ciphertext=encrypt_message_body(
                self.conversation_id,
                seq=seq,
                sender=self.sender,
                text=self.body,
                key=key,
            ),
            card=self.card,
        )

    def announce(self, message: Message) -> None:
        """Register the stored message's event, to leave once committed."""
        send_event_on_commit(*self.stored_event(message))

    def stored_event(self, message: Message) -> Event:
        """The stored message's event, its frame rendered from the body."""
        return events.message_stored_event(
            message.conversation_id,
            message.seq,
            frame=render_message(message, for_staff=False, text=self.body),
            client_id=message.client_id,
        )


def _store_message(
    draft: Draft, in_charge: InCharge | None
) -> tuple[Message, bool] | None:
    # One UPDATE takes the row lock and the next seq at once: the lock
    # serializes writers of one conversation until the commit, so seq has
    # no gap and no duplicate (SQLite: the IMMEDIATE transaction holds the
    # database write lock as well). Two statements per message instead of
    # SELECT FOR UPDATE, INSERT, UPDATE: the insert cannot join the update
    # in one statement because the ciphertext is bound to its seq.
    conversation_id = draft.conversation_id
    seq = _take_next_seq(conversation_id, draft.sender, draft.reply_at, in_charge)
    if seq is None:
        if in_charge is not None:
            return None
        return _store_refused(conversation_id, draft.client_id)
    message = draft.as_message(seq)
    if not _insert_message(message):
        # This client id is stored already: a resend, or a twin that took
        # the row lock first. Give the seq back (the lock is still ours, so
        # nobody took the next one) and answer with the stored message.
        _give_back_seq(conversation_id, draft.sender, draft.reply_at)
        return _stored_twin(conversation_id, draft.client_id), False
    draft.announce(message)
    return message, True


def _insert_message(message: Message) -> bool:
    """INSERT ``message`` with one statement built once per database.

    What ``Message.objects.create`` sends, without compiling the query for
    every message (a sixth of a message's cost in the profile). No signal
    is sent: nothing listens for a message's save, and the hot path must
    not grow one unseen. Returns False, and inserts nothing, if the
    conversation already holds a message with this client id.
    """
    # ``connection`` is a proxy that looks the thread's connection up on
    # every attribute: once per call is enough.
    db = connections[DEFAULT_DB_ALIAS]
    with db.cursor() as cursor:
        cursor.execute(_insert_sql(db.vendor), _insert_params(message, db))
        row = cursor.fetchone()
    if row is None:
        return False
    _saved(message, row[0], db)
    return True


def _insert_params(message: Message, db: Any) -> list[Any]:
    return [
        field.get_db_prep_save(field.pre_save(message, add=True), db)
        for field in _insert_fields()
    ]


def _saved(message: Message, pk: int, db: Any) -> None:
    """Mark ``message`` as the row ``pk``, as a save would."""
    message.pk = pk
    message._state.adding = False
    message._state.db = db.alias


@cache
def _insert_fields() -> tuple[Field, ...]:
    return tuple(f for f in Message._meta.concrete_fields if not f.primary_key)


@cache
def _insert_sql(vendor: str) -> str:
    quote = _prep_db().ops.quote_name
    columns = ", ".join(quote(field.column) for field in _insert_fields())
    marks = ", ".join(["%s"] * len(_insert_fields()))
    conversation = quote(Message._meta.get_field("conversation").column)
    client_id = quote(Message._meta.get_field("client_id").column)
    # The target names message_client_id_unique, a partial index: its
    # predicate must be repeated for PostgreSQL and SQLite to match it.
    return (
        f"INSERT INTO {quote(Message._meta.db_table)} ({columns}) "  # noqa: S608 - model's table.
        f"VALUES ({marks}) "
        f"ON CONFLICT ({conversation}, {client_id}) WHERE {client_id} IS NOT NULL "
        f"DO NOTHING RETURNING {quote(Message._meta.pk.column)}"
    )


def writes_in_one_statement() -> bool:
    """Whether a right ``expect_seq`` stores a message in one statement.

    PostgreSQL only: SQLite has no UPDATE inside a WITH, and writes one
    transaction at a time anyway. Asked from the event loop: it reads the
    settings, not a connection (a connection object is made per context).
    """
    return _configured_vendor() == "postgresql"


def writes_in_loop() -> bool:
    """Whether the event loop stores a message itself
    (``store_expected_in_loop``) before any thread does.

    PostgreSQL, with one statement sent by the loop's connections, and
    SQLite, with one short transaction run by the loop's own connection.
    """
    return _configured_vendor() in ("postgresql", "sqlite")


def _configured_vendor() -> str:
    return _vendor(settings.DATABASES[DEFAULT_DB_ALIAS]["ENGINE"])


@cache
def _vendor(engine: str) -> str:
    return load_backend(engine).DatabaseWrapper.vendor


def _store_expected(
    draft: Draft, seq: int, in_charge: InCharge | None
) -> tuple[Message, bool] | None:
    """Store a message under ``seq`` in one statement, or store nothing.

    PostgreSQL only, and outside a transaction: the statement is its own.
    Its UPDATE takes the next seq only if it is ``seq`` (and on the other
    conditions of ``_take_next_seq``) and no message has this client id;
    its INSERT runs only if the UPDATE did. A twin stored meanwhile breaks
    the client id's unique index, and the whole statement rolls back: the
    seq stays gapless. None means the usual transaction must decide: a
    wrong guess, a resend, a closed conversation or an unmet condition.
    The statement's one row holds the new message's id, or None and the
    conversation's last seq as the statement began (for the loop to guess
    again); no row, no such conversation.
    A BEGIN, an UPDATE, an INSERT and a COMMIT become one round trip.
    The sockets send the same statement from the event loop first
    (``store_expected_in_loop``); this is its path through a thread.
    """
    db = connections[DEFAULT_DB_ALIAS]
    if db.vendor != "postgresql" or db.in_atomic_block:
        return None
    statement = _expected_statement(draft, seq, in_charge, db)
    if statement is None:
        return None
    sql, params, message = statement
    try:
        with db.cursor() as cursor:
            cursor.execute(sql, params)
            row = cursor.fetchone()
    except IntegrityError:
        return None
    if row is None or row[0] is None:
        return None
    _saved(message, row[0], db)
    draft.announce(message)
    return message, True


# How many seqs the event loop tries for one message. A wrong guess is
# common under load: a message of the other side stored, its event not yet
# here. The statement then says the seq it saw, and the next try takes the
# one after it; another writer may have taken that one too meanwhile.
LOOP_GUESSES = 3


async def store_expected_in_loop(
    draft: Draft, seq: int, in_charge: InCharge | None = None
) -> tuple[Message, Event] | None:
    """Store a message from the event loop itself, before any thread.

    On PostgreSQL, ``_store_expected``'s statement leaves with the others
    of its process's next batch (``realtime.loopdb``). A wrong guess is
    tried again here, with the seq after the one the statement saw, up to
    ``LOOP_GUESSES`` statements in all. On SQLite, the loop writes the
    message in one short transaction of its own (``_store_in_sqlite_loop``),
    which needs no guess.

    Returns the stored message and the event that announces it, for the
    caller to send; None, with nothing stored, when the usual path must
    decide (its transaction, without guessing again). Raises
    ``realtime.loopdb.Unavailable`` when the loop cannot write it (the
    database out of its reach a moment ago, SQLite's write lock taken, or
    the conversation's data key not yet read by this process): the caller
    then takes its thread path, guess included. Call only when
    ``writes_in_loop()``.
    """
    key = cached_data_key(draft.conversation_id)
    if key is None:
        raise Unavailable
    db = _prep_db()
    if db.vendor == "sqlite":
        return await _store_in_sqlite_loop(draft, in_charge, key, db)
    for _guess in range(LOOP_GUESSES):
        statement = _expected_statement(draft, seq, in_charge, db, key)
        if statement is None:
            return None
        sql, params, message = statement
        row = await loop_connections().fetch_one(
            sql, params, order=str(draft.conversation_id)
        )
        if row is None:
            return None
        stored_id, last_seq = row
        if stored_id is not None:
            _saved(message, stored_id, db)
            return message, draft.stored_event(message)
        if last_seq == seq - 1:
            # The guess was right, yet nothing was stored: a resend, a
            # closed conversation, an unmet condition.
            return None
        # A wrong guess, the other side's message first: guess again.
        seq = last_seq + 1
    return None


async def _store_in_sqlite_loop(
    draft: Draft, in_charge: InCharge | None, key: bytes, db: Any
) -> tuple[Message, Event] | None:
    """``_store_message`` run by the event loop on its own SQLite connection.

    The same two statements in one IMMEDIATE transaction, which holds
    SQLite's write lock: the seq is taken, the body encrypted under it and
    the message inserted, with no guess. ``in_charge``'s condition (the
    console's access stamp) is part of the UPDATE. Nothing is stored, and
    None returned, for whatever the usual path handles: a closed or
    missing conversation, an unmet condition, a client id already stored.
    Raises ``Unavailable`` when the write lock stays taken
    (``realtime.loop_sqlite``). The write itself is synchronous, about a
    tenth of a millisecond, and never blocks on a lock.
    """
    statement = _take_seq_statement(
        db, draft.conversation_id, draft.sender, draft.reply_at, in_charge
    )
    if statement is None:
        return None
    take_sql, take_params = statement
    take_sql = sqlite_sql(take_sql)
    insert_sql = sqlite_sql(_insert_sql(db.vendor))

    def write(cursor: Any) -> Message | None:
        row = cursor.execute(take_sql, take_params).fetchone()
        if row is None:
            return None
        message = draft.as_message(row[0], key)
        row = cursor.execute(insert_sql, _insert_params(message, db)).fetchone()
        if row is None:
            return None
        _saved(message, row[0], db)
        return message

    message = await loop_sqlite().run(write)
    if message is None:
        return None
    return message, draft.stored_event(message)


def _expected_statement(
    draft: Draft,
    seq: int,
    in_charge: InCharge | None,
    db: Any,
    key: bytes | None = None,
) -> tuple[str, list[Any], Message] | None:
    """The one statement storing ``draft`` under ``seq``, its parameters
    and the unsaved message; None if it cannot apply."""
    if in_charge is not None and not in_charge.service_ids:
        return None
    conversation_id = draft.conversation_id
    message = draft.as_message(seq, key)
    params: list[Any] = [
        *_count_params(db, conversation_id, draft.sender, draft.reply_at),
        Conversation.Status.CLOSED,
        seq - 1,
    ]
    services, condition, guard_params = _in_charge_terms(in_charge)
    params += guard_params
    # The twin's lookup: this conversation, this client id.
    conversation_param = Conversation._meta.pk.get_db_prep_value(conversation_id, db)
    params += [
        conversation_param,
        Message._meta.get_field("client_id").get_db_prep_value(draft.client_id, db),
    ]
    params += _insert_params(message, db)
    params.append(conversation_param)  # the last seq's lookup
    return _expected_sql(in_charge is not None, services, condition), params, message


@cache
def _prep_db() -> Any:
    """A connection object that never connects, for what the loop prepares.

    Preparing parameters and quoting names asks a connection object for
    its operations and features only. ``connections[alias]`` in the event
    loop would make one per task (asgiref keeps them in a context
    variable); this one is made once per process.
    """
    return connections.create_connection(DEFAULT_DB_ALIAS)


@cache
def _expected_sql(in_charge: bool, services: int, condition: str) -> str:
    """The one statement of ``_store_expected`` (PostgreSQL)."""
    db = _prep_db()
    quote = db.ops.quote_name
    guard = _guard(in_charge, services, condition)
    table = quote(Message._meta.db_table)
    fields = _insert_fields()
    columns = ", ".join(quote(field.column) for field in fields)
    # INSERT … SELECT does not type its parameters from the columns as
    # VALUES does: each is cast to its column's type, text without a length
    # (a cast to varchar(n) would cut a longer value instead of refusing it).
    values = ", ".join(f"%s::{_cast_type(field, db)}" for field in fields)
    conversation = quote(Message._meta.get_field("conversation").column)
    client_id = quote(Message._meta.get_field("client_id").column)
    # Model tables and columns, and the caller's condition: no input.
    return (
        "WITH taken AS ("  # noqa: S608
        f"UPDATE {quote(Conversation._meta.db_table)} SET {TAKE_SEQ_SET} "
        f"WHERE id = %s AND status <> %s AND last_seq = %s{guard} "
        f"AND NOT EXISTS (SELECT 1 FROM {table} "
        f"WHERE {conversation} = %s AND {client_id} = %s) "
        "RETURNING last_seq), "
        f"stored AS (INSERT INTO {table} ({columns}) SELECT {values} FROM taken "
        f"RETURNING {quote(Message._meta.pk.column)}) "
        # The new message's id; else the last seq as the statement began,
        # for a wrong guess to be tried again. No row: no such conversation.
        "SELECT (SELECT * FROM stored), last_seq "
        f"FROM {quote(Conversation._meta.db_table)} WHERE id = %s"
    )


def _cast_type(field: Field, db: Any) -> str:
    if isinstance(field, CharField):
        return db.ops.cast_char_field_without_max_length
    return field.cast_db_type(db)


STAFF_SENDERS = frozenset(
    {Message.Sender.OPERATOR, Message.Sender.PSYCHOLOGIST, Message.Sender.SUPERVISOR}
)


# What taking a seq sets; its parameters are the first three of
# ``_count_params``.
TAKE_SEQ_SET = (
    "last_seq = last_seq + 1, "
    "visitor_messages = visitor_messages + %s, "
    "staff_messages = staff_messages + %s, "
    "first_staff_reply_at = COALESCE(first_staff_reply_at, %s)"
)


def _in_charge_terms(in_charge: InCharge | None) -> tuple[int, str, list[Any]]:
    """What ``in_charge`` adds to the conversation's UPDATE: its number of
    services, its condition's SQL and their parameters (the operator id,
    the service ids, the condition's), for ``_guard``."""
    if in_charge is None:
        return 0, "", []
    params = [in_charge.operator_id, *in_charge.service_ids]
    condition = ""
    if in_charge.condition is not None:
        condition, condition_params = in_charge.condition
        params += condition_params
    return len(in_charge.service_ids), condition, params


def _guard(in_charge: bool, services: int, condition: str) -> str:
    """The UPDATE's conditions past its own, from ``_in_charge_terms``."""
    guard = _in_charge_guard(services) if in_charge else ""
    return f"{guard} AND {condition}" if condition else guard


def _in_charge_guard(services: int) -> str:
    """The conversation row's condition for ``InCharge``; its parameters
    are the operator id, then the ``services`` service ids."""
    marks = ", ".join(["%s"] * services)
    return f" AND operator_id = %s AND service_id IN ({marks})"


def _take_next_seq(
    conversation_id: UUID,
    sender: str,
    reply_at: datetime | None,
    in_charge: InCharge | None = None,
) -> int | None:
    """Increment ``last_seq`` of an open conversation; None if closed or absent.

    With ``in_charge``, also None unless that operator is in charge of it
    in one of those services.

    The same UPDATE counts the message for the statistics (visitor or staff
    message, first staff reply at ``reply_at``): ``purge`` deletes the
    messages, and a year's figures must not change when it does.
    """
    db = connections[DEFAULT_DB_ALIAS]
    statement = _take_seq_statement(db, conversation_id, sender, reply_at, in_charge)
    if statement is None:
        return None
    with db.cursor() as cursor:
        cursor.execute(*statement)
        row = cursor.fetchone()
    return None if row is None else row[0]


def _take_seq_statement(
    db: Any,
    conversation_id: UUID,
    sender: str,
    reply_at: datetime | None,
    in_charge: InCharge | None,
) -> tuple[str, list[Any]] | None:
    """``_take_next_seq``'s UPDATE and its parameters, with ``in_charge``'s
    condition if it has one; None if ``in_charge`` can match nothing."""
    if in_charge is not None and not in_charge.service_ids:
        return None
    services, condition, guard_params = _in_charge_terms(in_charge)
    params = [
        *_count_params(db, conversation_id, sender, reply_at),
        Conversation.Status.CLOSED,
        *guard_params,
    ]
    return _take_seq_sql(in_charge is not None, services, condition), params


@cache
def _take_seq_sql(in_charge: bool, services: int, condition: str) -> str:
    guard = _guard(in_charge, services, condition)
    table = _prep_db().ops.quote_name(Conversation._meta.db_table)
    # A model's table, and the caller's condition: no input.
    return (
        f"UPDATE {table} SET {TAKE_SEQ_SET} "  # noqa: S608
        f"WHERE id = %s AND status <> %s{guard} RETURNING last_seq"
    )


def _count_params(
    db: Any, conversation_id: UUID, sender: str, reply_at: datetime | None
) -> list[Any]:
    """What a message counts, for ``_take_next_seq`` and ``_give_back_seq``.

    The visitor and staff message counts, the first staff reply time and
    the conversation's id, in the order both statements use them.
    """
    return [
        int(sender == Message.Sender.VISITOR),
        int(sender in STAFF_SENDERS),
        db.ops.adapt_datetimefield_value(reply_at),
        Conversation._meta.pk.get_db_prep_value(conversation_id, db),
    ]


def _give_back_seq(
    conversation_id: UUID, sender: str, reply_at: datetime | None
) -> None:
    """Undo ``_take_next_seq`` in the same transaction, counters included.

    The first staff reply time goes back to empty only if this message
    set it: it is still the exact value the increment wrote.
    """
    db = connections[DEFAULT_DB_ALIAS]
    table = db.ops.quote_name(Conversation._meta.db_table)
    with db.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET last_seq = last_seq - 1, "  # noqa: S608 - a model's table.
            "visitor_messages = visitor_messages - %s, "
            "staff_messages = staff_messages - %s, "
            "first_staff_reply_at = CASE WHEN first_staff_reply_at = %s "
            "THEN NULL ELSE first_staff_reply_at END WHERE id = %s",
            _count_params(db, conversation_id, sender, reply_at),
        )


def _stored_twin(conversation_id: UUID, client_id: UUID | None) -> Message:
    return Message.objects.get(conversation_id=conversation_id, client_id=client_id)


def _store_refused(
    conversation_id: UUID, client_id: UUID | None
) -> tuple[Message, bool]:
    """Answer a message to a closed (or missing) conversation."""
    if not Conversation.objects.filter(id=conversation_id).exists():
        raise Conversation.DoesNotExist
    # A resend of a message stored before the close still gets its ack.
    existing = None
    if client_id is not None:
        existing = Message.objects.filter(
            conversation_id=conversation_id, client_id=client_id
        ).first()
    if existing is not None:
        return existing, False
    raise refusals.conversation_over()


def check_send_typing(conversation: Conversation, *, active: Any, origin: str) -> None:
    """Signal the visitor's typing to the conversation's staff.

    ``origin`` is the sending socket's channel name, so it is not echoed.
    Staff typing goes through ``console.services.check_send_staff_typing``.
    """
    if not isinstance(active, bool):
        raise refusals.active_not_bool()
    if conversation.status == Conversation.Status.CLOSED:
        raise refusals.conversation_over()
    events.notify_typing(
        conversation.id, sender=Message.Sender.VISITOR, active=active, origin=origin
    )
