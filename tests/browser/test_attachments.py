"""Attachments in real browsers (issue 16): a visitor sends a photo with
GPS EXIF, the operator sees the stripped preview in the console and sends
a PDF back."""

import io
import re
from typing import Any

import pytest
from PIL import ExifTags, Image
from pypdf import PdfWriter

from tests.browser.conftest import SCREENSHOTS, check_accessibility, screenshot
from tests.browser.test_console_shift import log_in, shift_accounts  # noqa: F401
from tests.browser.test_visitor_page import start_conversation

pytestmark = pytest.mark.browser

expect = pytest.importorskip(
    "playwright.sync_api", reason="BROWSER SKIPPED: playwright is not installed"
).expect
expect.set_options(timeout=15_000)


def gps_photo() -> bytes:
    image = Image.new("RGB", (640, 420), (40, 110, 170))
    for x in range(0, 640, 40):
        for y in range(0, 420, 40):
            image.paste((230, 180, 60), (x, y, x + 20, y + 20))
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "PhoneMaker"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (48.0, 51.0, 24.0)
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    return out.getvalue()


def loaded(image: Any) -> None:
    image.wait_for()
    expect(image).to_have_js_property("complete", True)
    assert image.evaluate("img => img.naturalWidth") > 0


def test_visitor_sends_a_photo_and_the_operator_sees_the_stripped_preview(
    context_factory: Any,
    server: Any,
    shift_accounts: dict[str, Any],  # noqa: F811
) -> None:
    visitor = context_factory().new_page()
    visitor.goto(server.url + "/")
    start_conversation(visitor)

    operator, operator_watch = log_in(
        context_factory, server, "shift-op", name="att-operator"
    )
    operator.locator("button.queue-item").last.click()
    panel = operator.locator("section.conversation").last
    panel.wait_for()
    expect(visitor.locator("#log")).to_contain_text("Opératrice 12")

    photo = gps_photo()
    visitor.locator("#attach-input").set_input_files(
        files=[{"name": "IMG_2041.jpg", "mimeType": "image/jpeg", "buffer": photo}]
    )
    expect(visitor.locator("#attach-status")).to_contain_text("IMG_2041.jpg envoyé")
    own = visitor.locator("#log .att-card")
    loaded(own.locator("img"))
    expect(own).to_contain_text("IMG_2041.jpg")
    check_accessibility(visitor, "visitor attachment")
    screenshot(visitor, "attachments-01-visitor-photo")

    card = panel.locator(".att-card")
    card.wait_for()
    preview = card.locator("img")
    loaded(preview)
    expect(card).to_contain_text("IMG_2041.jpg")
    # What the operator's browser shows is the stripped copy.
    src = preview.get_attribute("src")
    fetched = operator.request.get(server.url + src)
    assert fetched.status == 200
    assert fetched.headers["content-disposition"].startswith("attachment")
    shown = Image.open(io.BytesIO(fetched.body()))
    assert len(shown.getexif()) == 0 and b"PhoneMaker" not in fetched.body()
    full = operator.request.get(server.url + card.locator("a").get_attribute("href"))
    assert (
        b"GPS" not in full.body()
        and len(Image.open(io.BytesIO(full.body())).getexif()) == 0
    )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    operator.screenshot(path=str(SCREENSHOTS / "attachments-02-console-preview.png"))

    # The operator answers with a PDF; the visitor gets its card.
    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    writer.add_metadata({"/Author": "Opératrice réelle"})
    pdf = io.BytesIO()
    writer.write(pdf)
    panel.locator("input[type=file]").set_input_files(
        files=[
            {
                "name": "fiche.pdf",
                "mimeType": "application/pdf",
                "buffer": pdf.getvalue(),
            }
        ]
    )
    expect(panel.locator(".attach-status")).to_contain_text("fiche.pdf envoyé")
    expect(
        visitor.locator("#log .att-card").filter(has_text="fiche.pdf")
    ).to_contain_text(re.compile("PDF"))
    screenshot(visitor, "attachments-03-visitor-pdf")
    assert operator_watch.errors == [], operator_watch.errors
    # Leave nothing open for the next test's operator.
    visitor.get_by_role("button", name="Terminer").click()
    visitor.get_by_role("button", name="Oui, terminer").click()
    expect(
        visitor.get_by_role("heading", name="La conversation est terminée")
    ).to_be_visible()
