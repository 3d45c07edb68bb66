"""Constraints between config keys that JSON Schema cannot express, on one resolved experiment."""

from __future__ import annotations

from llcbench.checkpoints import SNAPSHOT_BYTES_MAX, checkpoint_grid, checkpoint_steps, nearest_grid_steps
from llcbench.errors import ConfigError
from llcbench.model import count_params, layer_sizes
from llcbench.plan import draw_count


def cross_checks(where: str, e: dict) -> None:
    """Constraints between keys that JSON Schema cannot express, on one resolved
    experiment ``e``; ``where`` names it in messages (``base``, ``experiments.<name>``
    or ``sweep[<name>]``). Hidden ``widths`` never clash with ``data.in_dim``: the
    layer sizes are ``[in_dim, *widths, out_dim]``, so only their count can be wrong."""
    at = f"config error at {where}"
    m, d, p = e["model"], e["data"], e["posterior"]
    t, n = d["teacher"], d["n"]
    if m["widths"] is not None and len(m["widths"]) != m["depth"]:
        raise ConfigError(
            f"{at}.model.widths: {m['widths']} has {len(m['widths'])} entries but model.depth is {m['depth']}; allowed: a list of {m['depth']} (model.depth) integers >= 1, or null"
        )
    if len(t["widths"]) != t["depth"]:
        raise ConfigError(
            f"{at}.data.teacher.widths: {t['widths']} has {len(t['widths'])} entries but data.teacher.depth is {t['depth']}; allowed: a list of {t['depth']} (data.teacher.depth) integers >= 1"
        )
    if d["x_dist"] == "low_dim" and d["manifold_dim"] > d["in_dim"]:
        raise ConfigError(
            f"{at}.data.manifold_dim: {d['manifold_dim']} exceeds data.in_dim = {d['in_dim']}, so the inputs are not low-dimensional; allowed: 1..{d['in_dim']}"
        )
    if p["gamma"] is None and p["prior_radius"] is None:
        raise ConfigError(
            f"{at}.posterior: gamma and prior_radius are both null; allowed: a number >= 0 for gamma, or gamma: null with a prior_radius > 0"
        )
    if p["gamma"] is not None and p["prior_radius"] is not None:
        raise ConfigError(
            f"{at}.posterior.prior_radius: {p['prior_radius']} would be ignored, since gamma = {p['gamma']} is set; allowed: null, or set gamma: null to use prior_radius"
        )
    if e["training"]["batch_size"] is not None and e["training"]["batch_size"] > n:
        raise ConfigError(f"{at}.training.batch_size: {e['training']['batch_size']} exceeds data.n = {n}; allowed: 1..{n} or null")
    for s in e["run_samplers"]:
        st = e["samplers"][s]
        if st["burn_in"] > st["steps"] - 2:
            raise ConfigError(
                f"{at}.samplers.{s}.burn_in: {st['burn_in']} leaves fewer than 2 of steps = {st['steps']} for draws; allowed: 0..steps − 2 = {st['steps'] - 2}"
            )
        if draw_count(st["steps"], st["burn_in"], st["eval_every"]) < 2:
            raise ConfigError(
                f"{at}.samplers.{s}.eval_every: {st['eval_every']} leaves fewer than 2 draws after burn-in; allowed: 1..{(st['steps'] - st['burn_in']) // 2}"
            )
        if st.get("step_size") == "auto" and st.get("precond") == "adam":
            raise ConfigError(
                f"{at}.samplers.{s}.step_size: auto needs precond none or rmsprop, but precond is adam (its lagged drift has no "
                "first-order bias formula for the pilot); allowed: a number > 0, or precond: none | rmsprop"
            )
        if "batch_size" in st and st["batch_size"] > n:
            raise ConfigError(f"{at}.samplers.{s}.batch_size: {st['batch_size']} exceeds data.n = {n}; allowed: 1..{n}")
    if e["reference"] not in e["samplers"]:
        raise ConfigError(
            f"{at}.reference: {e['reference']!r} is not a sampler; allowed: {', '.join(e['samplers'])} "
            "(a block under samplers; the scoreboard's reference where no analytic λ exists)"
        )
    _dln_checks(at, e)
    _checkpoint_checks(at, e)


def _checkpoint_checks(at: str, e: dict) -> None:
    """``training.checkpoints``: trained w* only; listed steps on the grid the ERM job keeps
    (``checkpoints.checkpoint_grid``); a count the grid can hold; the kept parameters within
    ``checkpoints.SNAPSHOT_BYTES_MAX``."""
    t = e["training"]
    checkpoints, steps = t["checkpoints"], t["steps"]
    if checkpoints is None:
        return
    key = f"{at}.training.checkpoints"
    if t["method"] != "optax":
        raise ConfigError(
            f"{key}: training.method is {t['method']}, which builds w* without training; allowed: null, or training.method: optax"
        )
    grid = checkpoint_grid(steps)
    if isinstance(checkpoints, list):
        for i, step in enumerate(checkpoints):
            if step > steps:
                raise ConfigError(f"{key}.{i}: {step} exceeds training.steps = {steps}; allowed: steps 1..{steps}")
            if step not in grid:
                near = " or ".join(map(str, nearest_grid_steps(step, steps)))
                raise ConfigError(
                    f"{key}.{i}: {step} is not a step the ERM job keeps; allowed: steps 1..{steps} with at most two significant "
                    f"digits (here {near}), or the final step {steps}"
                )
    elif checkpoints > len(grid):
        raise ConfigError(f"{key}: {checkpoints} checkpoints, but training.steps = {steps} keeps only {len(grid)}; allowed: 2..{len(grid)}")
    elif len(checkpoint_steps(checkpoints, steps)) < checkpoints:
        raise ConfigError(
            f"{key}: {checkpoints} log-spaced steps up to {steps} fall on only {len(checkpoint_steps(checkpoints, steps))} distinct kept steps; "
            f"allowed: a smaller count, more training.steps, or a list of steps"
        )
    m, d = e["model"], e["data"]
    dim = count_params(layer_sizes(d["in_dim"], d["out_dim"], m["depth"], m["widths"], m["target_params"]), m["bias"])
    size = 4 * dim * len(grid)
    if size > SNAPSHOT_BYTES_MAX:
        raise ConfigError(
            f"{key}: keeping the parameters (d = {dim}) at the {len(grid)} checkpoint steps of training.steps = {steps} takes "
            f"{size / 2**20:.0f} MiB; allowed: at most {SNAPSHOT_BYTES_MAX / 2**20:.0f} MiB (a smaller model or fewer training.steps), or null"
        )


def _dln_checks(at: str, e: dict) -> None:
    """Deep-linear-network settings: a teacher rank needs an identity teacher narrow
    enough; ``training.method: aligned`` needs a bias-free identity student with MSE
    loss whose hidden widths can hold the teacher's rank."""
    m, d, t = e["model"], e["data"], e["data"]["teacher"]
    narrowest = min(d["in_dim"], d["out_dim"], *t["widths"])
    if t["rank"] is not None and t["activation"] != "identity":
        raise ConfigError(
            f"{at}.data.teacher.rank: a rank applies to linear teachers only, but data.teacher.activation is {t['activation']}; allowed: null, or data.teacher.activation: identity"
        )
    if t["rank"] is not None and t["rank"] > narrowest:
        raise ConfigError(
            f"{at}.data.teacher.rank: {t['rank']} exceeds the teacher's narrowest layer ({narrowest}); allowed: 0..{narrowest} or null"
        )
    if e["training"]["method"] != "aligned":
        return
    needs = {
        "model.activation": (m["activation"], "identity"),
        "model.bias": (m["bias"], False),
        "data.teacher.activation": (t["activation"], "identity"),
        "loss.kind": (e["loss"]["kind"], "mse"),
    }
    for key, (value, wanted) in needs.items():
        if value != wanted:
            raise ConfigError(
                f"{at}.training.method: aligned builds a deep-linear-network w*, but {key} is {value}; allowed: optax, or {key}: {str(wanted).lower()}"
            )
    rank = narrowest if t["rank"] is None else t["rank"]
    hidden = layer_sizes(d["in_dim"], d["out_dim"], m["depth"], m["widths"], m["target_params"])[1:-1]
    if rank > min(hidden):
        raise ConfigError(
            f"{at}.model.widths: the narrowest hidden width {min(hidden)} cannot hold the teacher's rank {rank} (training.method: aligned); allowed: hidden widths >= {rank}"
        )
