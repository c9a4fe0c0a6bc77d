"""Write paths of the chat app; consumers, views and commands call these."""

from chat.services.conversations import (
    check_resume_conversation,
    check_start_conversation,
    check_start_for_visitor,
    do_close_conversation,
    do_leave_conversation,
    do_release_conversation,
    do_resume_conversation,
    do_start_conversation,
)
from chat.services.messages import (
    check_send_message,
    check_send_typing,
    do_send_message,
    visitor_draft,
    writes_in_loop,
    writes_in_one_statement,
)
from chat.services.presence import (
    do_drop_connection,
    do_refresh_heartbeats,
    do_register_connection,
    do_sweep_presence,
)
from chat.services.queue import do_notify_queue_changed

__all__ = [
    "check_resume_conversation",
    "do_resume_conversation",
    "check_send_message",
    "check_send_typing",
    "visitor_draft",
    "check_start_conversation",
    "check_start_for_visitor",
    "do_close_conversation",
    "do_drop_connection",
    "do_leave_conversation",
    "do_notify_queue_changed",
    "do_refresh_heartbeats",
    "do_register_connection",
    "do_release_conversation",
    "do_send_message",
    "do_start_conversation",
    "do_sweep_presence",
    "writes_in_loop",
    "writes_in_one_statement",
]
