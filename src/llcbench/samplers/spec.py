"""What a sampler module declares about itself, and how the workflow reads it.

A sampler module holds a module-level ``SPEC = SamplerSpec(...)``, written with
literals and the two classes below only: the workflow reads it from the source
(``read_spec``) without importing the module, so planning a run never imports JAX
or the sampler's dependencies. Everything else the workflow shows about a sampler
(CSV columns, figures, captions, ``summary.md``, titles, health flags) is derived
from it.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path
from typing import NamedTuple

STAT_TIMES = ("step", "draw")


class Stat(NamedTuple):
    """A statistic a sampler records: one field of its step ``info``.

    ``at``: "step" (computed every step; stored as the mean over each draw's window of
    ``eval_every`` steps) or "draw" (computed only at a draw's record step, stored as is).
    ``figure``: file suffix of a per-chain histogram, ``<sampler>_<figure>.png``; None for none.
    ``counts``: a health flag name ("divergences", "nan_reverts"): the statistic is a 0/1
    indicator per step, its total over the steps run is reported under that name, and a
    non-zero total flags the run's status as ``<counts>: k``.
    ``spread``: also report the standard deviation (``<name>_sd``) beside the mean."""

    name: str
    meaning: str
    at: str = "step"
    figure: str | None = None
    counts: str | None = None
    spread: bool = False


class SamplerSpec(NamedTuple):
    """``stats``: the statistics its step records. ``minibatch``: whether it draws
    minibatches (stochastic gradients). ``title_settings``: settings shown in figure
    titles. ``settings_schema``: JSON Schema (an object's ``properties`` with defaults)
    of its settings block, for samplers outside the package only (built-in samplers have
    their block in workflow/schemas/config.schema.yaml)."""

    stats: tuple[Stat, ...] = ()
    minibatch: bool = False
    title_settings: tuple[str, ...] = ()
    settings_schema: dict | None = None


class ContractError(ValueError):
    """A sampler module does not meet the contract; ``str(err)`` says what is missing."""


def _top_level(tree: ast.Module, name: str):
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return node.value
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == name:
            return node.value
    return None


@functools.lru_cache(maxsize=64)
def _parse(path: str, mtime_ns: int) -> ast.Module:
    return ast.parse(Path(path).read_text(), filename=path)


def _tree(path: str | Path) -> ast.Module:
    """The syntax tree of the file at ``path`` (parsed once per version of the file)."""
    try:
        return _parse(str(path), Path(path).stat().st_mtime_ns)
    except (OSError, SyntaxError) as err:
        raise ContractError(f"cannot read {path}: {err}") from None


def read_spec(path: str | Path) -> SamplerSpec:
    """The ``SPEC`` of the sampler module at ``path``, evaluated from its source alone,
    after checking the module defines ``build``. Raises ``ContractError``."""
    try:
        mtime = Path(path).stat().st_mtime_ns
    except OSError as err:
        raise ContractError(f"cannot read {path}: {err}") from None
    return _read_spec(str(path), mtime)


@functools.lru_cache(maxsize=64)
def _read_spec(path: str, mtime_ns: int) -> SamplerSpec:
    tree = _tree(path)
    node = _top_level(tree, "SPEC")
    if node is None:
        raise ContractError(f"{path} has no module-level SPEC = SamplerSpec(...)")
    if not any(isinstance(n, ast.FunctionDef) and n.name == "build" for n in tree.body):
        raise ContractError(f"{path} defines no build(**settings) function")
    try:
        spec = eval(compile(ast.Expression(node), str(path), "eval"), {"__builtins__": {}, "SamplerSpec": SamplerSpec, "Stat": Stat})
    except Exception as err:  # noqa: BLE001 - any failure is the module author's to fix
        raise ContractError(f"SPEC of {path} must use literals, SamplerSpec and Stat only ({type(err).__name__}: {err})") from None
    if not isinstance(spec, SamplerSpec):
        raise ContractError(f"SPEC of {path} is a {type(spec).__name__}, not a SamplerSpec")
    for stat in spec.stats:
        if not isinstance(stat, Stat) or stat.at not in STAT_TIMES:
            raise ContractError(f"SPEC of {path}: {stat!r} is not a Stat with at in {STAT_TIMES}")
    return spec


def build_parameters(path: str | Path) -> list[str] | None:
    """Names of the keyword parameters of ``build`` in the module at ``path``, or None
    when it takes ``**kwargs`` (anything)."""
    tree = _tree(path)
    fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "build")
    if fn.args.kwarg is not None:
        return None
    return [a.arg for a in (*fn.args.posonlyargs, *fn.args.args, *fn.args.kwonlyargs)]
