"""What a visitor's socket needs from the database, one call per step.

The consumer is an adapter: it joins the conversation's groups (layer
work, no database), then makes one call here to attach the socket and
read what it must show, instead of a round trip per service. The reads
run after the groups are joined, so an invitation or consent question
asked meanwhile arrives as an event if it is not in what was read.

It lives beside the consumer, in the ``visitor`` adapter package, because
the view it reads spans apps above chat (the console's invitation, the
escalation's consent question): chat itself may not import them.
"""

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from anonymity.sealing import PendingSeal
from anonymity.services import do_seal_pending_connection
from chat.models import Conversation
from chat.places import render_conversation_commune
from chat.services import check_start_for_visitor
from chat.services.presence import (
    do_drop_connection,
    do_register_connection,
    do_signal_visitor_presence,
)
from chat.services.queue import get_queue_status, read_queue_place
from console.selectors import get_visitor_invitation_frame
from escalation.consent import get_pending_consent_frame


@dataclass
class AttachedView:
    """What the visitor's page shows once its socket is attached.

    ``queue`` is (position, estimated wait in seconds) while the
    conversation waits; the rest is read only on a resume.
    """

    queue: tuple[int, int] | None = None
    commune: dict[str, str] | None = None
    invitation: dict[str, Any] | None = None
    consent: dict[str, Any] | None = None


def do_attach_visitor(
    channel_name: str,
    conversation: Conversation,
    *,
    server_id: str,
    seal: PendingSeal | None,
    resumed: bool,
) -> AttachedView:
    """Register the socket, seal its address, tell staff, read the view.

    Each write keeps its own transaction, as when the consumer made them
    one by one; only the round trips are saved.
    """
    do_register_connection(
        channel_name, server_id=server_id, conversation_id=conversation.id
    )
    do_seal_pending_connection(seal, conversation.id)
    # One read gives the status (is there presence to show?) and the place.
    place = read_queue_place(conversation)
    do_signal_visitor_presence(
        conversation.id, connected=True, status=conversation.status
    )
    view = AttachedView()
    if resumed:
        view.commune = render_conversation_commune(conversation)
        view.invitation = get_visitor_invitation_frame(conversation)
        view.consent = get_pending_consent_frame(conversation)
    if conversation.status == Conversation.Status.WAITING or not resumed:
        view.queue = get_queue_status(conversation, place=place)
    return view


def check_start_and_attach(
    channel_name: str,
    conversation_id: UUID,
    *,
    server_id: str,
    seal: PendingSeal | None,
    **start: Any,
) -> tuple[Conversation, str, dict[str, Any], AttachedView]:
    """Open the conversation ``conversation_id``, then attach the socket.

    One call for both (one trip to a database thread): the socket joined
    the conversation's groups before, under the id it chose. Each keeps
    its own transaction, as two calls did.
    """
    conversation, token, details = check_start_for_visitor(
        conversation_id=conversation_id, **start
    )
    view = do_attach_visitor(
        channel_name, conversation, server_id=server_id, seal=seal, resumed=False
    )
    return conversation, token, details, view


def do_detach_visitor(channel_name: str, conversation_id: UUID) -> None:
    """Drop the socket's presence row, then tell staff if the visitor is gone."""
    do_drop_connection(channel_name)
    do_signal_visitor_presence(conversation_id, connected=False)
