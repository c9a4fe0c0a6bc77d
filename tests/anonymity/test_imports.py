"""Only the custodians' tools may import the unsealing module."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ALLOWED = {
    "anonymity/unsealing.py",
    "anonymity/management/commands/unseal_connection.py",
    # Opens records only for an approved, unexpired disclosure request.
    "escalation/disclosure.py",
}


def test_unsealing_is_imported_only_where_allowed():
    offenders = []
    for path in ROOT.glob("*/**/*.py"):
        relative = path.relative_to(ROOT).as_posix()
        if relative.startswith((".venv/", "tests/")) or relative in ALLOWED:
            continue
        tree = ast.parse(path.read_text(), filename=relative)
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            if any(name.startswith("anonymity.unsealing") for name in names):
                offenders.append(relative)
    assert offenders == []
