"""HTTP side of attachments: the upload, the file and its preview.

The upload carries its one-time token in ``Authorization: Upload <token>``
and the raw file as its body; no cookie, no form. Files are served with
``Content-Disposition: attachment``, ``nosniff`` and a sandboxing CSP, so
a browser never runs or renders them as part of the site.
"""

from urllib.parse import quote, unquote

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from attachments import storage
from attachments.services import (
    access_attachment_for_staff,
    access_attachment_for_visitor,
    attachment_name,
    check_upload,
)
from chat.errors import ChatError
from console.access import get_staff_profile

STATUS = {
    "forbidden": 403,
    "not_found": 404,
    "too_large": 413,
    "unsupported_type": 415,
    "bad_state": 409,
    "bad_request": 400,
}
SANDBOX_CSP = "default-src 'none'; sandbox"


def error_response(error: ChatError) -> JsonResponse:
    return JsonResponse(
        {"error": error.code, "message": error.message},
        status=STATUS.get(error.code, 400),
    )


@csrf_exempt  # no cookie is used: the one-time token is the credential
@require_POST
@never_cache
def upload(request: HttpRequest) -> HttpResponse:
    auth = request.headers.get("Authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme != "Upload":
        return error_response(ChatError("forbidden", "Upload token required."))
    limit = settings.ATTACHMENT_MAX_BYTES
    chunks, total = [], 0
    while chunk := request.read(64 * 1024):
        total += len(chunk)
        if total > limit:
            return error_response(ChatError("too_large", "Too large."))
        chunks.append(chunk)
    try:
        message = check_upload(
            token.strip(),
            name=unquote(request.headers.get("X-File-Name", ""))[:300],
            data=b"".join(chunks),
        )
    except ChatError as error:
        return error_response(error)
    return JsonResponse(
        {"seq": message.seq, "attachment": message.card["attachment"]}, status=201
    )


def _serve(data: bytes, *, mime: str, name: str) -> HttpResponse:
    response = HttpResponse(data, content_type=mime)
    response["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(name)}"
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = SANDBOX_CSP
    response["Cache-Control"] = "private, no-store"
    response["Referrer-Policy"] = "no-referrer"
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    return response


@require_GET
@never_cache
def download(
    request: HttpRequest, attachment_id: str, part: str = "file"
) -> HttpResponse:
    """Visitor with ``X-Conversation-Token``, or staff of the conversation."""
    token = request.headers.get("X-Conversation-Token")
    try:
        if token:
            attachment = access_attachment_for_visitor(token, attachment_id)
        else:
            profile = (
                get_staff_profile(request.user)
                if getattr(request.user, "is_verified", lambda: False)()
                else None
            )
            if profile is None:
                raise ChatError("not_found", "Not found.")
            attachment = access_attachment_for_staff(profile, attachment_id, what=part)
        if part == "preview" and not attachment.has_preview:
            raise ChatError("not_found", "Not found.")
        data = storage.read(attachment.conversation_id, attachment.id, part)
    except ChatError as error:
        return error_response(error)
    except FileNotFoundError:
        return error_response(ChatError("not_found", "Not found."))
    name = attachment_name(attachment)
    if part == "preview":
        return _serve(data, mime=attachment.preview_mime, name=f"apercu-{name}")
    return _serve(data, mime=attachment.mime, name=name)
