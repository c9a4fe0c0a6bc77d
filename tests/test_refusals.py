"""Each refusal text is written once (issue 13).

A refusal used in several places is a function of ``chat.refusals``;
writing its code and text out again elsewhere would let the copies
drift. This reads the source, so it also catches a refusal added later.
"""

import ast
import subprocess
from collections import Counter
from pathlib import Path

from chat import refusals
from chat.errors import ChatError, Refusal

ROOT = Path(__file__).resolve().parent.parent
REFUSAL_NAMES = {"ChatError", "Refusal"}
GETTEXT_NAMES = {"_", "gettext", "gettext_lazy"}


def source_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "*.py"], cwd=ROOT, capture_output=True, text=True
    ).stdout.split()
    return [
        ROOT / name
        for name in listed
        if not name.startswith("tests/") and "/migrations/" not in name
    ]


def written_refusals(path: Path) -> list[tuple[str, str]]:
    """Return the (code, text) of every refusal written out in ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in REFUSAL_NAMES
            and len(node.args) >= 2
        ):
            continue
        code, message = node.args[:2]
        if (
            isinstance(code, ast.Constant)
            and isinstance(message, ast.Call)
            and isinstance(message.func, ast.Name)
            and message.func.id in GETTEXT_NAMES
            and message.args
            and isinstance(message.args[0], ast.Constant)
        ):
            found.append((code.value, message.args[0].value))
    return found


def test_no_refusal_is_written_out_twice():
    counts = Counter(
        refusal for path in source_files() for refusal in written_refusals(path)
    )
    assert [refusal for refusal, count in counts.items() if count > 1] == []


def test_the_catalogue_gives_fresh_refusals_of_the_one_type():
    assert ChatError is Refusal
    refusal = refusals.not_in_charge()
    assert isinstance(refusal, Refusal)
    assert (refusal.code, refusal.message, refusal.extra) == (
        "bad_state",
        "Vous ne prenez pas en charge cette conversation.",
        {},
    )
    assert refusals.not_in_charge() is not refusal
