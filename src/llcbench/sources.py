"""Which package sources a result depends on, as one content hash.

A rule passes ``code_hash(...)`` of the modules its jobs run as a ``param``:
Snakemake re-runs a job when its params change, so editing a module re-runs exactly
the jobs whose code includes it, while moving or copying the project (or running it
with ``--directory``) changes nothing. The modules of a job are found from the
source: the given modules and every ``llcbench`` module they import, transitively.
Plumbing that cannot change a number (file writing, logging, config checking) is
left out, so editing it re-runs nothing.
"""

from __future__ import annotations

import ast
import hashlib
from functools import lru_cache
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
PLUMBING = frozenset({"llcbench.files", "llcbench.runtime", "llcbench.config", "llcbench.plan", "llcbench.sources"})


def module_path(module: str) -> Path | None:
    """The source file of an ``llcbench`` module (a package's ``__init__.py``), or None."""
    parts = module.split(".")[1:]
    base = PACKAGE_DIR.joinpath(*parts)
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _imports(path: Path) -> set[str]:
    """``llcbench`` modules imported by the file at ``path`` (``from llcbench.x import y``
    counts ``llcbench.x`` and, when it is a module, ``llcbench.x.y``)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("llcbench")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("llcbench"):
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names if module_path(f"{node.module}.{a.name}")}
    return found


@lru_cache(maxsize=None)
def dependencies(*roots: str) -> tuple[str, ...]:
    """The ``llcbench`` modules ``roots`` consist of: themselves, their parent packages and
    everything they import, transitively, less ``PLUMBING``; sorted."""
    seen, todo = set(), list(roots)
    while todo:
        module = todo.pop()
        if module in seen or module_path(module) is None:
            continue
        seen.add(module)
        parts = module.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts))] + sorted(_imports(module_path(module)))
    return tuple(sorted(seen - PLUMBING))


def code_hash(*roots: str, files: tuple[Path, ...] = ()) -> str:
    """SHA-256 (16 hex digits) over the sources of ``dependencies(*roots)`` and of ``files``
    (with the ``llcbench`` modules those import)."""
    extra = tuple(sorted(m for f in files for m in _imports(Path(f))))
    h = hashlib.sha256()
    for module in dependencies(*roots, *extra):
        h.update(module.encode() + b"\0" + module_path(module).read_bytes() + b"\0")
    for f in files:
        h.update(Path(f).read_bytes() + b"\0")
    return h.hexdigest()[:16]
