"""The job plan: content-addressed IDs for every data set, w* and sampler run a set of
resolved experiments asks for. Pure Python (no JAX), imported by the Snakefile.

IDs nest: ``data_id`` hashes the seed and data settings; ``erm_id`` hashes the data
ID with the model, loss and training settings; a run ID is ``<sampler>-<hash>`` over
the ERM ID, the posterior and that sampler's settings. Hashes are SHA-256 over
canonical JSON (sorted keys), never Python's ``hash()``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from llcbench.model import layer_sizes


def canonical_json(obj) -> str:
    """JSON with sorted keys and no NaN or infinity: the one text form of settings,
    used for IDs, ``params`` and the ``settings_json`` attribute of every file."""
    return json.dumps(obj, sort_keys=True, allow_nan=False)


def canonical(obj):
    """``obj`` with every dict's keys sorted, recursively. Snakemake compares
    ``params`` by their text, so equal settings must also print equally."""
    return json.loads(canonical_json(obj))


def content_id(obj) -> str:
    """12 hex digits of SHA-256 over the canonical JSON of ``obj``."""
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()[:12]


@dataclass
class Plan:
    """Every job the config asks for, keyed by content ID. Settings dicts are the
    exact ``params`` each rule passes to its script."""

    data: dict[str, dict] = field(default_factory=dict)  # data_id -> settings
    erm: dict[str, dict] = field(default_factory=dict)  # erm_id -> settings
    runs: dict[str, dict] = field(default_factory=dict)  # run_id -> settings
    experiments: dict[str, dict] = field(default_factory=dict)  # name -> {"settings", "data_id", "erm_id", "runs": {sampler: run_id}}


def draw_count(steps: int, burn_in: int, eval_every: int) -> int:
    """Draws of a chain: one every ``eval_every`` steps after ``burn_in``."""
    return (steps - burn_in) // eval_every


def run_sampler_name(run_id: str) -> str:
    """The sampler of a run ID ``<sampler>-<hash>``."""
    return run_id.rsplit("-", 1)[0]


def build_plan(experiments: dict[str, dict]) -> Plan:
    """Content-addressed jobs for resolved ``experiments``; identical settings
    share one ID and so one job. All settings are canonical (sorted keys)."""
    plan = Plan()
    for name, e in ((n, canonical(e)) for n, e in experiments.items()):
        data = {"seed": e["seed"], "data": e["data"]}
        data_id = "d" + content_id(data)
        plan.data[data_id] = data
        sizes = layer_sizes(
            e["data"]["in_dim"], e["data"]["out_dim"], e["model"]["depth"], e["model"]["widths"], e["model"]["target_params"]
        )
        erm = {
            "data_id": data_id,
            "seed": e["seed"],
            "model": e["model"],
            "layer_sizes": sizes,
            "loss": e["loss"],
            "training": e["training"],
        }
        erm_id = "e" + content_id(erm)
        plan.erm[erm_id] = erm
        runs = {}
        for sampler in e["run_samplers"]:
            run = {
                "erm_id": erm_id,
                "data_id": data_id,
                "seed": e["seed"],
                "model": e["model"],
                "layer_sizes": sizes,
                "loss": e["loss"],
                "posterior": e["posterior"],
                "sampler": sampler,
                "sampler_settings": e["samplers"][sampler],
            }
            run_id = f"{sampler}-{content_id(run)}"
            plan.runs[run_id] = run
            runs[sampler] = run_id
        plan.experiments[name] = {"settings": e, "data_id": data_id, "erm_id": erm_id, "runs": runs}
    return plan
