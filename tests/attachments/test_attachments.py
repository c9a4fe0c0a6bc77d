"""Attachments (issue 16): stripping, storage, access, limits and purge."""

import io
from datetime import timedelta
from urllib.parse import quote

import pytest
from PIL import ExifTags, Image, ImageChops, ImageCms, ImageStat
from pypdf import PdfReader, PdfWriter

from django.test import Client, override_settings
from django.utils import timezone

from attachments import storage
from attachments.models import Attachment, AttachmentAccess
from attachments.services import do_issue_upload_token
from chat.models import Conversation
from chat.selectors import list_message_frames_after
from retention.purge import do_purge_expired
from tests.factories import (
    get_outcome_counts,
    make_conversation,
    make_operator,
    make_service,
    make_session_cookie,
)

pytestmark = pytest.mark.django_db

UPLOAD = "/attachments/upload/"


@pytest.fixture(autouse=True)
def attachments_dir(tmp_path, settings):
    settings.ATTACHMENTS_DIR = tmp_path / "attachments"
    return settings.ATTACHMENTS_DIR


@pytest.fixture
def conversation():
    conversation, token = make_conversation(make_service())
    conversation.visitor_token = token
    return conversation


def gps_jpeg() -> tuple[bytes, Image.Image]:
    """A photo as a phone makes it: EXIF with GPS, an ICC profile, XMP."""
    image = Image.new("RGB", (96, 64))
    image.putdata(
        [
            ((x * 5) % 256, (y * 7) % 256, (x + y) % 256)
            for y in range(64)
            for x in range(96)
        ]
    )
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "PhoneMaker"
    exif[ExifTags.Base.BodySerialNumber] = "SN-123456"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (48.0, 51.0, 24.0)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (2.0, 21.0, 7.0)
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    out = io.BytesIO()
    image.save(
        out,
        "JPEG",
        quality=95,
        exif=exif,
        icc_profile=icc,
        xmp=b"<x:xmpmeta><rdf:Description GPSLatitude='48,51'/></x:xmpmeta>",
    )
    data = out.getvalue()
    # The fixture really carries what must go.
    check = Image.open(io.BytesIO(data))
    assert check.getexif().get_ifd(ExifTags.IFD.GPSInfo)
    assert "icc_profile" in check.info and "xmp" in check.info
    return data, image


def upload(client, token, data, name="photo.jpg", **headers):
    return client.post(
        UPLOAD,
        data=data,
        content_type="application/octet-stream",
        HTTP_AUTHORIZATION=f"Upload {token}",
        HTTP_X_FILE_NAME=quote(name),
        **headers,
    )


def staff_client(user) -> Client:
    client = Client()
    cookie = make_session_cookie(user).decode()
    client.cookies["sessionid"] = cookie.split("=", 1)[1]
    return client


def test_jpeg_with_gps_comes_out_stripped_for_every_participant(conversation):
    data, original = gps_jpeg()
    token = do_issue_upload_token(conversation)
    response = upload(Client(), token, data, name="IMG_2041 plage.jpg")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["attachment"]["kind"] == "image"
    attachment = Attachment.objects.get()
    # At rest: encrypted, so no JPEG marker and no GPS text in the folder.
    raw = storage.path_of(attachment.id, "file").read_bytes()
    assert not raw.startswith(b"\xff\xd8") and b"PhoneMaker" not in raw

    operator = make_operator(conversation.service)
    visitor_get = Client().get(
        body["attachment"]["url"], HTTP_X_CONVERSATION_TOKEN=conversation.visitor_token
    )
    staff_get = staff_client(operator).get(body["attachment"]["url"])
    for got in (visitor_get, staff_get):
        assert got.status_code == 200
        assert got["Content-Disposition"].startswith("attachment;")
        assert "IMG_2041%20plage.jpg" in got["Content-Disposition"]
        assert got["X-Content-Type-Options"] == "nosniff"
        assert "sandbox" in got["Content-Security-Policy"]
        assert got["Content-Type"] == "image/jpeg"
        clean = Image.open(io.BytesIO(got.content))
        assert len(clean.getexif()) == 0
        assert not clean.getexif().get_ifd(ExifTags.IFD.GPSInfo)
        for key in ("exif", "icc_profile", "xmp", "XML:com.adobe.xmp", "comment"):
            assert key not in clean.info, key
        assert b"PhoneMaker" not in got.content and b"GPS" not in got.content
        assert clean.size == original.size
        diff = ImageChops.difference(clean.convert("RGB"), original)
        mean = sum(ImageStat.Stat(diff).mean) / 3
        assert mean < 6, mean
    # Each staff fetch is audited; the visitor's own fetch is not staff access.
    access = AttachmentAccess.objects.get()
    assert access.user == operator and access.what == "file"

    preview = staff_client(operator).get(body["attachment"]["preview"])
    assert preview.status_code == 200
    thumb = Image.open(io.BytesIO(preview.content))
    assert len(thumb.getexif()) == 0 and "icc_profile" not in thumb.info

    # The message carries the card, in seq order, for both sides.
    [frame] = list_message_frames_after(conversation.id, 0, for_staff=False)
    assert frame["seq"] == body["seq"] == 1
    assert frame["attachment"]["name"] == "IMG_2041 plage.jpg"
    assert frame["attachment"]["size"] == len(visitor_get.content)


def test_others_cannot_fetch(conversation):
    data, _ = gps_jpeg()
    url = upload(Client(), do_issue_upload_token(conversation), data).json()[
        "attachment"
    ]["url"]
    _other, other_token = make_conversation(make_service("ecoute-94"))
    stranger = make_operator(make_service("ecoute-94"))
    assert Client().get(url).status_code == 404
    assert Client().get(url, HTTP_X_CONVERSATION_TOKEN=other_token).status_code == 404
    assert staff_client(stranger).get(url).status_code == 404
    assert not AttachmentAccess.objects.exists()


def test_pdf_loses_its_document_information(conversation):
    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    writer.add_metadata(
        {"/Author": "Jean Dupont", "/Producer": "SecretCorp Scanner 9", "/Title": "t"}
    )
    source = io.BytesIO()
    writer.write(source)
    assert b"Jean Dupont" in source.getvalue()
    token = do_issue_upload_token(conversation)
    response = upload(Client(), token, source.getvalue(), name="plainte.pdf")
    assert response.status_code == 201, response.content
    got = Client().get(
        response.json()["attachment"]["url"],
        HTTP_X_CONVERSATION_TOKEN=conversation.visitor_token,
    )
    assert got["Content-Type"] == "application/pdf"
    assert b"Jean Dupont" not in got.content and b"SecretCorp" not in got.content
    reader = PdfReader(io.BytesIO(got.content))
    assert len(reader.pages) == 1
    info = reader.metadata or {}
    assert "/Author" not in info and "/Producer" not in info
    assert reader.xmp_metadata is None


@pytest.mark.parametrize(
    "data",
    [
        b"MZ\x90\x00\x03\x00\x00\x00 not an image at all" * 10,
        b"<html><script>alert(1)</script></html>",
        b"\xff\xd8\xff\xe0 broken jpeg body" * 20,
        b"%PDF-1.7 this is no pdf",
    ],
)
def test_a_file_that_is_not_what_it_claims_is_refused(conversation, data):
    token = do_issue_upload_token(conversation)
    response = upload(Client(), token, data, name="photo.jpg")
    assert response.status_code == 415
    assert response.json()["error"] == "unsupported_type"
    assert not Attachment.objects.exists()
    assert Conversation.objects.get(id=conversation.id).last_seq == 0


def test_token_is_one_time_and_required(conversation):
    data, _ = gps_jpeg()
    token = do_issue_upload_token(conversation)
    assert upload(Client(), token, data).status_code == 201
    assert upload(Client(), token, data).status_code == 403
    assert upload(Client(), "x" * 43, data).status_code == 403
    assert (
        Client().post(UPLOAD, data=data, content_type="image/jpeg").status_code == 403
    )
    assert Attachment.objects.count() == 1


@override_settings(ATTACHMENT_MAX_BYTES=2000)
def test_over_size_refused_by_the_view(conversation):
    token = do_issue_upload_token(conversation)
    response = upload(Client(), token, b"\xff\xd8\xff" + b"0" * 3000)
    assert response.status_code == 413
    assert not Attachment.objects.exists()


def test_purge_removes_files_and_keeps_statistics(conversation, attachments_dir):
    data, _ = gps_jpeg()
    upload(Client(), do_issue_upload_token(conversation), data)
    attachment = Attachment.objects.get()
    assert storage.path_of(attachment.id, "file").exists()
    assert storage.path_of(attachment.id, "preview").exists()
    Conversation.objects.filter(id=conversation.id).update(
        status=Conversation.Status.CLOSED,
        outcome=Conversation.Outcome.INFORMATION,
        closed_at=timezone.now() - timedelta(days=400),
    )
    before = get_outcome_counts()
    record = do_purge_expired()
    assert record.counts["attachments"] == 1
    assert not Attachment.objects.exists()
    assert list(attachments_dir.iterdir()) == []
    assert get_outcome_counts() == before
