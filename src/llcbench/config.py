"""Configuration: schema validation with defaults, experiment expansion, and
content-addressed IDs. Pure Python (no JAX), imported by the Snakefile.

IDs nest: ``data_id`` hashes the seed and data settings; ``erm_id`` hashes the
data ID with the model, loss and training settings; a run ID is
``<sampler>-<hash>`` over the ERM ID, the posterior and that sampler's settings.
Hashes are SHA-256 over canonical JSON (sorted keys), never Python's ``hash()``.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import jsonschema
import yaml

from llcbench.model import layer_sizes

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"


class ConfigError(ValueError):
    """A configuration value is not allowed. ``str(err)`` is one line naming the key."""


def load_schema(path: Path = SCHEMA_PATH) -> dict:
    return yaml.safe_load(path.read_text())


def _validator(schema: dict):
    """A draft 2020-12 validator that fills in ``default`` values as it goes."""
    base = jsonschema.Draft202012Validator
    validate_properties = base.VALIDATORS["properties"]

    def properties_with_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if "default" in sub and name not in instance:
                    instance[name] = copy.deepcopy(sub["default"])
        yield from validate_properties(validator, properties, instance, schema)

    cls = jsonschema.validators.extend(base, {"properties": properties_with_defaults})
    return cls(schema)


def _allowed(error: jsonschema.ValidationError) -> str:
    """What the schema would have accepted, in words."""
    s = error.schema if isinstance(error.schema, dict) else {}
    v = error.validator
    if v == "enum":
        return "allowed: " + ", ".join(map(str, error.validator_value))
    if v == "additionalProperties":
        return "allowed keys: " + ", ".join(sorted(s.get("properties", {})))
    if v in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        sym = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}[v]
        return f"allowed: values {sym} {error.validator_value}"
    if v == "type":
        return f"allowed: {error.validator_value}"
    if v in ("minItems", "minProperties"):
        return f"allowed: at least {error.validator_value} entries"
    if v == "oneOf":
        return "allowed: null or " + ", ".join(
            str(o.get("type") or o.get("$ref", "").split("/")[-1]) for o in error.validator_value if o.get("type") != "null"
        )
    return ""


def _format(error: jsonschema.ValidationError, prefix: str) -> str:
    best = jsonschema.exceptions.best_match([error])
    path = ".".join([prefix, *map(str, best.absolute_path)]).strip(".") or "<top level>"
    if best.validator == "additionalProperties":
        extra = sorted(set(best.instance) - set(best.schema.get("properties", {})))
        msg = f"unknown key {', '.join(map(repr, extra))}"
    else:
        msg = best.message
    allowed = _allowed(best)
    return f"config error at {path}: {msg}" + (f"; {allowed}" if allowed else "")


def _check(schema: dict, instance, prefix: str) -> None:
    errors = sorted(_validator(schema).iter_errors(instance), key=lambda e: list(e.absolute_path))
    if errors:
        raise ConfigError(_format(errors[0], prefix))


def deep_merge(base: dict, override: dict) -> dict:
    """``base`` updated by ``override``: nested dicts merge, everything else replaces."""
    out = copy.deepcopy(base)
    for k, v in override.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


def _cross_checks(name: str, e: dict) -> None:
    """Constraints between keys that JSON Schema cannot express."""
    at = f"config error at experiments.{name}"
    m, t = e["model"], e["data"]["teacher"]
    if m["widths"] is not None and len(m["widths"]) != m["depth"]:
        raise ConfigError(f"{at}.model.widths: {m['widths']} has {len(m['widths'])} entries but model.depth is {m['depth']}; allowed: a list of depth positive integers, or null")
    if len(t["widths"]) != t["depth"]:
        raise ConfigError(f"{at}.data.teacher.widths: {t['widths']} has {len(t['widths'])} entries but teacher.depth is {t['depth']}")
    p = e["posterior"]
    if p["gamma"] is None and p["prior_radius"] is None:
        raise ConfigError(f"{at}.posterior: gamma and prior_radius are both null; allowed: a number >= 0 for gamma, or a prior_radius > 0")
    n = e["data"]["n"]
    if e["training"]["batch_size"] is not None and e["training"]["batch_size"] > n:
        raise ConfigError(f"{at}.training.batch_size: {e['training']['batch_size']} exceeds data.n = {n}; allowed: 1..{n} or null")
    for s in e["run_samplers"]:
        st = e["samplers"][s]
        if st["burn_in"] >= st["steps"]:
            raise ConfigError(f"{at}.samplers.{s}.burn_in: {st['burn_in']} >= steps = {st['steps']}; allowed: 0..{st['steps'] - 1}")
        if (st["steps"] - st["burn_in"]) // st["eval_every"] < 2:
            raise ConfigError(f"{at}.samplers.{s}.eval_every: {st['eval_every']} leaves fewer than 2 draws after burn-in; allowed: at most {(st['steps'] - st['burn_in']) // 2}")
        if "batch_size" in st and st["batch_size"] > n:
            raise ConfigError(f"{at}.samplers.{s}.batch_size: {st['batch_size']} exceeds data.n = {n}; allowed: 1..{n}")


def resolve_experiments(config: dict, schema: dict | None = None) -> dict[str, dict]:
    """Validate ``config`` and return experiment name -> complete settings
    (``base`` merged with the experiment's overrides, defaults filled in)."""
    schema = schema or load_schema()
    config = copy.deepcopy(config)
    _check({**schema, "properties": {**schema["properties"], "base": {"type": "object"}}}, config, "")
    experiment_schema = {"$defs": schema["$defs"], **schema["$defs"]["experiment"]}
    out = {}
    for name, override in config["experiments"].items():
        merged = deep_merge(config.get("base", {}), override)
        # Report unknown or bad keys against where the user wrote them.
        _check(experiment_schema, copy.deepcopy(override), f"experiments.{name}")
        _check(experiment_schema, copy.deepcopy(config.get("base", {})), "base")
        _check(experiment_schema, merged, f"experiments.{name}")
        _cross_checks(name, merged)
        out[name] = merged
    return out


def resolve_health(config: dict, schema: dict | None = None) -> dict:
    """The ``health`` thresholds with defaults filled in (validated)."""
    schema = schema or load_schema()
    health = copy.deepcopy(config.get("health", {}))
    _check({"$defs": schema["$defs"], **schema["properties"]["health"]}, health, "health")
    return health


def content_id(obj) -> str:
    """12 hex digits of SHA-256 over canonical JSON of ``obj``."""
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


@dataclass
class Plan:
    """Every job the config asks for, keyed by content ID. Settings dicts are the
    exact ``params`` each rule passes to its script."""

    data: dict[str, dict] = field(default_factory=dict)  # data_id -> settings
    erm: dict[str, dict] = field(default_factory=dict)  # erm_id -> settings
    runs: dict[str, dict] = field(default_factory=dict)  # run_id -> settings
    experiments: dict[str, dict] = field(default_factory=dict)  # name -> {"settings", "runs": {sampler: run_id}}


def build_plan(experiments: dict[str, dict]) -> Plan:
    """Content-addressed jobs for resolved ``experiments``; identical settings
    share one ID and so one job."""
    plan = Plan()
    for name, e in experiments.items():
        data = {"seed": e["seed"], "data": e["data"]}
        data_id = "d" + content_id(data)
        plan.data[data_id] = data
        sizes = layer_sizes(e["data"]["in_dim"], e["data"]["out_dim"], e["model"]["depth"], e["model"]["widths"], e["model"]["target_params"])
        erm = {"data_id": data_id, "seed": e["seed"], "model": e["model"], "layer_sizes": sizes, "loss": e["loss"], "training": e["training"]}
        erm_id = "e" + content_id(erm)
        plan.erm[erm_id] = erm
        runs = {}
        for sampler in e["run_samplers"]:
            run = {"erm_id": erm_id, "data_id": data_id, "seed": e["seed"], "model": e["model"], "layer_sizes": sizes,
                   "loss": e["loss"], "posterior": e["posterior"], "sampler": sampler, "settings": e["samplers"][sampler]}
            run_id = f"{sampler}-{content_id(run)}"
            plan.runs[run_id] = run
            runs[sampler] = run_id
        plan.experiments[name] = {"settings": e, "data_id": data_id, "erm_id": erm_id, "runs": runs}
    return plan
