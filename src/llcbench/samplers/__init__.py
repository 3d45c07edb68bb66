"""Samplers of the tempered local posterior, and the contract every sampler meets.

A sampler is one module (``llcbench/samplers/<name>.py``, or any module named by
``samplers.<name>.module`` in the config) with:

- ``SPEC = SamplerSpec(...)``: its statistics, whether it draws minibatches, the
  settings shown in titles (``llcbench.samplers.spec``; read without importing it);
- ``build(*, <setting>=..., ...) -> Algorithm``: its settings block (less the chain
  settings ``CHAIN_SETTINGS``, which the driver uses) as keyword parameters, unpacked
  once here from the validated config; it returns pure functions over one chain:

  - ``init(key, posterior) -> state``: the state at ``posterior.w_star``; ``state.position`` is w (d,);
  - ``step(key, state, posterior, record) -> (state, info)``: one step; ``info`` is a
    NamedTuple with a field ``grads`` (full-data-equivalent gradients the step spent) and one
    field per ``SPEC`` statistic; ``record`` (a Python bool) is true at the last step of each
    draw, where statistics declared ``at="draw"`` are computed (elsewhere they may be NaN);
    the driver vmaps it over chains with axis name ``CHAIN_AXIS`` too (as ``tune``);
  - ``tune(key, posterior) -> (state, Tuned)`` (or None): tuning from w*, returning the tuned
    state (its parameters inside it) and what was tuned and spent. The driver vmaps it over
    chains with axis name ``CHAIN_AXIS``, so a tuner may pool a statistic over the chains
    (``jax.lax.pmean(x, CHAIN_AXIS)``) and give every chain the same parameters.
  - ``loss(state, posterior) -> L_n`` (or None): the full-data L_n at ``state.position`` from
    what the state already holds (HMC, MCLMC: its log density), so the driver's draws need no
    forward pass of their own (and cost none); None: the driver evaluates L_n itself.

The posterior (``llcbench.posterior.LocalPosterior``) is a pytree argument of every
function, never captured, so compiled loops are shared across data sets. The driver
(``samplers/driver.py``) vmaps chains, jits tuning and the chain loop, times them, counts
the cost and turns the infos into the trace.
"""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path
from typing import Any, Callable, NamedTuple

CHAIN_SETTINGS = ("chains", "steps", "burn_in", "eval_every", "dtype")  # read by the driver, not passed to build
PLUGIN_KEYS = ("module", "source_sha256")  # where a plug-in lives and its source hash (part of its run ID)
CHAIN_AXIS = "chain"  # the axis name of the driver's vmap over chains in tuning and steps
PLAN_KEYS = ("replicates",)  # read by the plan (llcbench.plan), never part of a run's sampler settings


class Tuned(NamedTuple):
    """What a sampler's ``tune`` reports for one chain: ``params`` (name -> scalar or (d,)
    array, each entry finite and > 0 or the run fails as ``tuning_failed``) and ``grads``
    (full-data-equivalent gradients spent tuning)."""

    params: dict[str, Any]
    grads: Any


class Algorithm(NamedTuple):
    """A sampler with its settings bound (see the module docstring)."""

    init: Callable
    step: Callable
    tune: Callable | None = None
    loss: Callable | None = None


def loss_from_state(chain, posterior):
    """``Algorithm.loss`` of a sampler whose chain state carries log π at its position
    (``chain.state.logdensity``, computed there by the integrator's own full-data pass; a
    rejected or reverted step keeps both): L_n with no forward pass of its own."""
    return posterior.loss_from_logdensity(chain.position, chain.state.logdensity)


def module_file(name: str, module: str | None = None) -> Path:
    """The source file of sampler ``name``: ``llcbench/samplers/<name>.py``, or the plug-in
    ``module`` (a dotted module name importable from here, or a path to a ``.py`` file
    relative to the working directory). Raises ``ImportError`` when it cannot be found."""
    if module is None:
        return Path(__file__).with_name(f"{name}.py")
    if module.endswith(".py"):
        path = Path(module)
        if not path.is_file():
            raise ImportError(f"no file {path.resolve()}")
        return path
    try:
        found = importlib.util.find_spec(module)
    except (ImportError, ValueError) as err:
        raise ImportError(str(err)) from None
    if found is None or not found.origin or not found.origin.endswith(".py"):
        raise ImportError(f"no module named {module!r} on the Python path")
    return Path(found.origin)


def load(name: str, module: str | None = None):
    """Import sampler ``name`` (a built-in, or the plug-in ``module``)."""
    if module is None:
        return importlib.import_module(f"llcbench.samplers.{name}")
    if module.endswith(".py"):
        spec = importlib.util.spec_from_file_location(f"llcbench_plugin_{name}", module)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod
    return importlib.import_module(module)


def instantiate(name: str, settings: dict):
    """``(SPEC, build(**settings))`` of sampler ``name``, the chain and plug-in keys left out of ``settings``."""
    mod = load(name, settings.get("module"))
    return mod.SPEC, mod.build(**{k: v for k, v in settings.items() if k not in CHAIN_SETTINGS + PLUGIN_KEYS + PLAN_KEYS})
