"""The repository stands on its own: no path outside it, no dead link.

A fresh clone must run and be understood with nothing beside it, so no
tracked file may point at the design folder the project started from,
every relative link of the documentation must land on a file of the
repository (and on a heading, when it names one), and every reference
file the import commands read must be in ``data/`` and described in
``data/README.md``. Fast: no database, no server.
"""

import re
import subprocess
from pathlib import Path

import pytest

from django.conf import settings

from chat.management.commands.import_communes import COMMUNES_FILE, POSTAL_CODES_FILE
from chat.management.commands.import_competence import COMPETENCE_FILE
from directory.csvio import ANNUAIRE_FILE, HELPLINES_FILE

ROOT = Path(settings.BASE_DIR).resolve()
DATA = ROOT / "data"
# Built from pieces so that this file does not match itself.
OUTSIDE_PATHS = ("../" + "shared", "shared" + "/data", "/work/" + "shared")
DOCUMENTS = ["README.md", "data/README.md", "bench/README.md"]
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"`[^`\n]*`")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$", re.MULTILINE)
DATA_DIR_LITERAL = re.compile(r"DATA_DIR\)?\s*/\s*\"([^\"]+)\"")


def tracked_files() -> list[Path]:
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z"],
            cwd=ROOT,
            check=True,
            capture_output=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("SKIPPED: not a git checkout, no list of tracked files")
    return [ROOT / name for name in out.decode().split("\0") if name]


def read_text(path: Path) -> str | None:
    """Return the file's text, or None for a binary or missing file."""
    try:
        raw = path.read_bytes()
    except (FileNotFoundError, IsADirectoryError):
        return None
    if b"\0" in raw[:8192]:
        return None
    return raw.decode("utf-8", errors="replace")


def documents() -> list[Path]:
    paths = [ROOT / name for name in DOCUMENTS]
    paths += sorted((ROOT / "docs").glob("*.md"))
    return paths


def github_slugs(markdown: str) -> set[str]:
    """Return the anchors a code host makes of the document's headings."""
    slugs: set[str] = set()
    seen: dict[str, int] = {}
    for title in HEADING.findall(FENCE.sub("", markdown)):
        slug = re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        slugs.add(slug if count == 0 else f"{slug}-{count}")
    return slugs


def relative_links(markdown: str) -> list[str]:
    prose = INLINE_CODE.sub("", FENCE.sub("", markdown))
    return [
        target
        for target in LINK.findall(prose)
        if not re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE)
    ]


def test_no_tracked_file_points_outside_the_repository() -> None:
    offenders = []
    for path in tracked_files():
        text = read_text(path)
        if text is None:
            continue
        for number, line in enumerate(text.splitlines(), start=1):
            if any(outside in line for outside in OUTSIDE_PATHS):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []


def test_every_document_exists() -> None:
    missing = [
        str(path.relative_to(ROOT)) for path in documents() if not path.is_file()
    ]
    assert missing == []
    assert (ROOT / "docs" / "architecture.md").is_file()
    assert (ROOT / "docs" / "protocol.md").is_file()
    assert (ROOT / "docs" / "security.md").is_file()


@pytest.mark.parametrize(
    "document", [str(path.relative_to(ROOT)) for path in documents()]
)
def test_relative_links_land_in_the_repository(document: str) -> None:
    source = ROOT / document
    broken = []
    for target in relative_links(source.read_text(encoding="utf-8")):
        path_part, _, anchor = target.partition("#")
        linked = (source.parent / path_part).resolve() if path_part else source
        if not linked.is_relative_to(ROOT) or not linked.exists():
            broken.append(f"{target}: no such file in the repository")
            continue
        if anchor and linked.suffix == ".md":
            slugs = github_slugs(linked.read_text(encoding="utf-8"))
            if anchor not in slugs:
                broken.append(f"{target}: no heading #{anchor}")
    assert broken == []


def test_slugs_follow_the_code_host() -> None:
    slugs = github_slugs(
        "## B1. Sealing the address\n### `start`: places\n## A\n## A\n"
    )
    assert slugs == {"b1-sealing-the-address", "start-places", "a", "a-1"}


def files_the_imports_read() -> set[str]:
    names = {
        COMMUNES_FILE,
        POSTAL_CODES_FILE,
        COMPETENCE_FILE,
        ANNUAIRE_FILE,
        HELPLINES_FILE,
    }
    # Any other code reading DATA_DIR / "name" (the demo's departments).
    for path in ROOT.glob("*/**/*.py"):
        if path.relative_to(ROOT).parts[0] in {"tests", ".venv", "var"}:
            continue
        names.update(DATA_DIR_LITERAL.findall(path.read_text(encoding="utf-8")))
    return names


def test_every_file_the_imports_read_is_in_data_and_described() -> None:
    readme = (DATA / "README.md").read_text(encoding="utf-8")
    names = files_the_imports_read()
    assert "departements.csv" in names  # the scan does find literal reads
    missing = sorted(name for name in names if not (DATA / name).is_file())
    undescribed = sorted(name for name in names if f"`{name}`" not in readme)
    assert missing == []
    assert undescribed == []


def test_every_file_in_data_is_described() -> None:
    readme = (DATA / "README.md").read_text(encoding="utf-8")
    files = sorted(p.name for p in DATA.iterdir() if p.is_file())
    undescribed = [
        name for name in files if name != "README.md" and f"`{name}`" not in readme
    ]
    assert undescribed == []


def test_the_default_data_folder_is_the_repository_s() -> None:
    assert Path(settings.DATA_DIR).resolve() == DATA
