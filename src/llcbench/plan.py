"""The job plan: content-addressed IDs for every data set, w*, training checkpoint and
sampler run a set of resolved experiments asks for. Pure Python (no JAX), imported by
the Snakefile.

IDs nest: ``data_id`` hashes the seed and data settings; ``erm_id`` hashes the data
ID with the model, loss and training settings; a checkpoint ID hashes the ERM ID and
the training step; a run ID is ``<sampler>-<hash>`` over the ERM ID (and checkpoint
ID), the posterior and that sampler's settings. Hashes are SHA-256 over canonical
JSON (sorted keys), never Python's ``hash()``.

Training checkpoints: an ERM job whose experiment sets ``training.checkpoints`` keeps
the parameters at every step of ``checkpoints.checkpoint_grid(training.steps)``. Only that switch
enters the ERM ID (as ``checkpoint_grid``), never the list, so changing the list adds
or removes checkpoint and sampler jobs without re-training; with checkpoints off
(null, the default) the ERM settings, and so every ID, are what they were before
checkpoints existed.

Replicates: ``replicates: R`` (an experiment's, or ``samplers.<name>.replicates``, which wins)
plans R end-of-training runs of a sampler on the same data and w*; replicate r > 0 adds
``"replicate": r`` to the run settings (its own ID, and its own sampler seed in
``stages.sample``), replicate 0 is the run without replicates, whose ID never changes.
Checkpoint runs are never replicated.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from llcbench.checkpoints import CHECKPOINT_GRID, checkpoint_steps
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
    runs: dict[str, dict] = field(default_factory=dict)  # run_id -> settings (end-of-training and checkpoint runs)
    checkpoints: dict[str, dict] = field(default_factory=dict)  # checkpoint_id -> {"erm_id", "step"}
    # name -> {"settings", "data_id", "erm_id", "runs": {sampler: run_id}, "replicates": {sampler: [run_id, ...]}}
    # ("runs" holds replicate 0, "replicates" every replicate of each sampler, replicate 0 first), plus
    # "trajectory" (a list of {"step", "checkpoint_id", "runs"} by step; the final step's checkpoint_id is None:
    # it is w*, its runs the end-of-training runs) when the experiment sets training.checkpoints
    experiments: dict[str, dict] = field(default_factory=dict)

    def end_runs(self) -> list[str]:
        """The end-of-training runs (at w*) of every experiment, every replicate, each once, in plan order."""
        return list(dict.fromkeys(r for e in self.experiments.values() for r in experiment_runs(e)))

    def trajectory_runs(self) -> list[str]:
        """Every run a trajectory uses (checkpoint runs and the final step's end-of-training runs), each once."""
        return list(dict.fromkeys(r for e in self.experiments.values() for p in e.get("trajectory", ()) for r in p["runs"].values()))


def experiment_runs(e: dict) -> list[str]:
    """Every end-of-training run of a planned experiment ``e``: each sampler's replicates in turn."""
    return [r for sampler, run_id in e["runs"].items() for r in e.get("replicates", {}).get(sampler, [run_id])]


def replicate_count(e: dict, sampler: str) -> int:
    """How many replicates of ``sampler`` a resolved experiment ``e`` asks for: the sampler's own
    ``replicates``, else the experiment's (default 1)."""
    return int(e["samplers"][sampler].get("replicates", e.get("replicates", 1)))


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
        checkpoints = e["training"].get("checkpoints")
        erm = {
            "data_id": data_id,
            "seed": e["seed"],
            "model": e["model"],
            "layer_sizes": sizes,
            "loss": e["loss"],
            "training": {k: v for k, v in e["training"].items() if k != "checkpoints"},  # the list never enters the ERM ID
        }
        if checkpoints is not None:
            erm["checkpoint_grid"] = CHECKPOINT_GRID
        erm_id = "e" + content_id(erm)
        plan.erm[erm_id] = erm
        base_run = {
            "erm_id": erm_id,
            "data_id": data_id,
            "seed": e["seed"],
            "model": e["model"],
            "layer_sizes": sizes,
            "loss": e["loss"],
            "posterior": e["posterior"],
        }

        def add_runs(extra: dict, replicates: bool = False) -> dict[str, list[str]]:
            # Replicate r > 0 of a sampler adds "replicate": r to its run settings (a new ID and sampler
            # seed: stages.sample); replicate 0 is the run as it always was, so `replicates: 1` changes no ID
            # and a larger R adds runs beside the one that exists. `replicates` itself never enters a run.
            runs = {}
            for sampler in e["run_samplers"]:
                settings = {k: v for k, v in e["samplers"][sampler].items() if k != "replicates"}
                runs[sampler] = []
                for r in range(replicate_count(e, sampler) if replicates else 1):
                    run = {**base_run, **extra, "sampler": sampler, "sampler_settings": settings, **({"replicate": r} if r else {})}
                    run_id = f"{sampler}-{content_id(run)}"
                    plan.runs[run_id] = run
                    runs[sampler].append(run_id)
            return runs

        replicates = add_runs({}, replicates=True)
        runs = {sampler: ids[0] for sampler, ids in replicates.items()}
        plan.experiments[name] = {"settings": e, "data_id": data_id, "erm_id": erm_id, "runs": runs, "replicates": replicates}
        if checkpoints is not None:
            final = e["training"]["steps"]
            trajectory = []
            for step in checkpoint_steps(checkpoints, final):
                if step == final:  # the final step is w*: its runs are the end-of-training runs
                    trajectory.append({"step": step, "checkpoint_id": None, "runs": runs})
                    continue
                checkpoint = {"erm_id": erm_id, "step": step}
                checkpoint_id = "c" + content_id(checkpoint)
                plan.checkpoints[checkpoint_id] = checkpoint
                trajectory.append(
                    {
                        "step": step,
                        "checkpoint_id": checkpoint_id,
                        "runs": {s: ids[0] for s, ids in add_runs({"checkpoint_id": checkpoint_id, "step": step}).items()},
                    }
                )
            if trajectory[-1]["step"] != final:  # the end-of-training estimate is always the trajectory's last point
                trajectory.append({"step": final, "checkpoint_id": None, "runs": runs})
            plan.experiments[name]["trajectory"] = trajectory
    return plan
