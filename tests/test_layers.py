"""The architecture map in the README, as a rule on the import graph: each part of
`satdescarga` imports only the parts below it (function-level imports included)."""

from __future__ import annotations

import ast
from pathlib import Path

import satdescarga

ROOT = Path(satdescarga.__file__).parent
LEAVES = {"_version", "vocabulary", "errors", "lazy", "codes", "xmlsafe", "clock", "rfc"}
# part -> the parts it may import (besides itself and the leaves)
ALLOWED: dict[str, set[str]] = {
    "generated": {"binding"},
    "binding": set(),
    "contract": {"binding", "generated"},
    "certificate": set(),
    "fiel": {"certificate"},
    "plugins": {"binding", "generated", "fiel", "certificate"},
    "packages": set(),
    "client": {"binding", "generated", "contract", "plugins", "fiel", "certificate", "packages"},
    "sync": {"client", "packages", "binding", "generated", "fiel", "certificate"},
    "emulator": {"binding", "generated", "contract", "certificate", "fiel", "packages"},
    "demo": {"fiel", "certificate"},
    "diagnosis": {"client", "sync", "fiel", "certificate"},
    "fleet": {"client", "sync", "packages", "fiel", "certificate"},
    "drills": {"fleet", "emulator", "client", "sync", "packages", "fiel", "certificate"},
    "readmodel": {"fleet", "sync", "packages", "client", "fiel", "certificate"},
    "web": {"readmodel", "fleet", "sync", "packages", "client", "fiel", "certificate"},
    "cli": {
        "binding",
        "generated",
        "contract",
        "plugins",
        "fiel",
        "certificate",
        "packages",
        "client",
        "sync",
        "emulator",
        "demo",
        "fleet",
        "drills",
        "diagnosis",
        "readmodel",
        "web",
    },
    "__init__": {"client", "fiel", "generated", "codes", "errors"},
    "__main__": {"cli"},
}


def _part(path: Path) -> str:
    relative = path.relative_to(ROOT)
    return relative.parts[0].removesuffix(".py") if len(relative.parts) > 1 else path.stem


def _imported_parts(path: Path) -> set[str]:
    parts = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        for name in names:
            pieces = name.split(".")
            if pieces[0] == "satdescarga" and len(pieces) > 1:
                parts.add(pieces[1])
    return parts


def test_every_part_imports_only_what_the_map_allows() -> None:
    broken = []
    for path in sorted(ROOT.rglob("*.py")):
        if "generated" in path.relative_to(ROOT).parts[:1] and path.is_symlink():
            continue
        part = _part(path)
        if part in LEAVES:
            allowed = LEAVES
        else:
            assert part in ALLOWED, f"{path}: part {part!r} is not on the map"
            allowed = ALLOWED[part] | LEAVES
        for used in _imported_parts(path) - allowed - {part}:
            if used in ALLOWED or used in LEAVES:
                broken.append(f"{path.relative_to(ROOT)} imports satdescarga.{used}")
    assert broken == []
