"""Imports flow one way: down the domain layers, and from adapters inward.

The rule is drawn in docs/architecture.md "Layers". Every module of ours
(tests and migrations aside) is parsed, function-local imports included,
and each import is checked against the order below. Adding, say,
``from console.models import StaffProfile`` to chat/models.py fails here.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# The domain layers, lowest first: a module may import its own app and the
# apps listed before it, never one listed after it.
DOMAIN_ORDER = [
    "realtime",
    "anonymity",
    "chat",
    "receipts",
    "console",
    "directory",
    "attachments",
    "stats",
    "escalation",
]
# Packages that are adapters through and through, and the deployment glue.
ADAPTER_PACKAGES = {"visitor", "retention", "config", "bench"}
# Module names that are adapters in any app: the network and the shell.
ADAPTER_MODULES = {
    "admin",
    "asgi",
    "consumers",
    "forms",
    "middleware",
    "routing",
    "socket",
    "urls",
    "views",
}
# Imports that break the rule on purpose, each with its reason. Keep short.
ALLOWED: set[tuple[str, str]] = set()

OURS = set(DOMAIN_ORDER) | ADAPTER_PACKAGES


def tier_of(relative: str) -> str:
    """Return "adapter" or "domain" for a module path like chat/views.py."""
    parts = relative.removesuffix(".py").split("/")
    if parts[0] in ADAPTER_PACKAGES:
        return "adapter"
    if "management" in parts or "templatetags" in parts:
        return "adapter"
    return "adapter" if parts[-1] in ADAPTER_MODULES else "domain"


def module_path(name: str) -> str | None:
    """Return the file (relative to the root) of a dotted module of ours."""
    base = ROOT.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate.relative_to(ROOT).as_posix()
    return None


def imported_modules(tree: ast.AST) -> set[str]:
    """Every module of ours ``tree`` imports, at any depth."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {name for name in names if name.split(".")[0] in OURS}


def our_modules() -> list[str]:
    found = []
    for top in sorted(OURS):
        for path in sorted((ROOT / top).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if "/migrations/" not in relative:
                found.append(relative)
    return found


def import_edges() -> list[tuple[str, str]]:
    """(importer, imported) file pairs across the project."""
    edges = []
    for relative in our_modules():
        tree = ast.parse((ROOT / relative).read_text(), filename=relative)
        for name in imported_modules(tree):
            target = module_path(name)
            if target is not None and target != relative:
                edges.append((relative, target))
    return sorted(set(edges))


def node_of(relative: str) -> tuple[str, str]:
    return relative.split("/")[0], tier_of(relative)


def breaks_rule(source: str, target: str) -> str | None:
    """Say why importing ``target`` from ``source`` is refused, or None."""
    (source_app, source_tier), (target_app, target_tier) = (
        node_of(source),
        node_of(target),
    )
    if source_tier == "adapter":
        return None
    if target_tier == "adapter":
        return "a domain module imports an adapter"
    if DOMAIN_ORDER.index(target_app) > DOMAIN_ORDER.index(source_app):
        return f"{source_app} imports {target_app}, a layer above it"
    return None


def test_domain_modules_import_only_downwards():
    offenders = [
        f"{source} -> {target}: {reason}"
        for source, target in import_edges()
        if (reason := breaks_rule(source, target)) and (source, target) not in ALLOWED
    ]
    assert offenders == []


def test_no_cycle_between_apps_and_tiers():
    graph: dict[tuple[str, str], set[tuple[str, str]]] = {}
    for source, target in import_edges():
        if (source, target) in ALLOWED:
            continue
        a, b = node_of(source), node_of(target)
        if a != b:
            graph.setdefault(a, set()).add(b)
    cycles = []
    state: dict[tuple[str, str], str] = {}

    def visit(node: tuple[str, str], path: list[tuple[str, str]]) -> None:
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                cycles.append(path[path.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert cycles == []


def test_the_rule_catches_an_upward_import():
    """The check itself can fail: chat importing console is refused."""
    assert breaks_rule("chat/models.py", "console/models.py")
    assert breaks_rule("realtime/runtime.py", "chat/models.py")
    assert breaks_rule("chat/services/messages.py", "chat/socket.py")
    assert breaks_rule("console/views.py", "escalation/models.py") is None
