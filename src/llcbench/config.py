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
import itertools
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


def coerce_scalars(obj):
    """Strings that read as YAML numbers, booleans or null become those values.
    Snakemake parses nested ``--config`` values with YAML's BaseLoader, which keeps
    every scalar a string ("3", "2.0e-5"); no setting here is a numeric-looking string."""
    if isinstance(obj, dict):
        return {k: coerce_scalars(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [coerce_scalars(v) for v in obj]
    if isinstance(obj, str):
        try:
            value = yaml.safe_load(obj)
        except yaml.YAMLError:
            return obj
        return value if value is None or isinstance(value, (bool, int, float)) else obj
    return obj


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


def _leaf_paths(d: dict, prefix: str = "") -> list[str]:
    out = []
    for k, v in d.items():
        path = f"{prefix}{k}"
        out += _leaf_paths(v, path + ".") if isinstance(v, dict) else [path]
    return out


def _nested(path: str, value) -> dict:
    """{"a": {"b": value}} from "a.b"."""
    for key in reversed(path.split(".")):
        value = {key: value}
    return value


def _value_label(value) -> str:
    if isinstance(value, list):
        return "x".join(map(str, value))
    return str(value)


def sweep_experiments(sweep: dict, base: dict) -> dict[str, dict]:
    """Experiment name -> {"override", "sweep_axis", "sweep_values"} generated by a
    ``sweep`` block around the resolved ``base`` settings."""
    paths = _leaf_paths(base)
    for axis in sweep["axes"]:
        parent = axis.rsplit(".", 1)[0] + "." if "." in axis else ""
        if axis not in paths:
            near = [p for p in paths if p.startswith(parent)] or paths
            raise ConfigError(f"config error at sweep.axes.{axis}: unknown setting; allowed: {', '.join(near)}")
    seeds = sweep.get("seeds") or [base["seed"]]
    axes = sweep["axes"]
    points: list[tuple[str, dict]] = []  # (axis label, {path: value})
    if sweep.get("mode", "one_at_a_time") == "grid":
        for combo in itertools.product(*axes.values()):
            points.append(("grid", dict(zip(axes, combo))))
    else:
        points.append(("base", {}))
        for axis, values in axes.items():
            base_value = _lookup(base, axis)
            points += [(axis, {axis: v}) for v in values if v != base_value]
    out = {}
    for label, values in points:
        stem = ",".join(f"{k}={_value_label(v)}" for k, v in values.items()) or "base"
        for seed in seeds:
            override: dict = {"seed": seed}
            for path, v in values.items():
                override = deep_merge(override, _nested(path, v))
            out[f"{stem}_s{seed}"] = {"override": override, "sweep_axis": label,
                                      "sweep_values": {a: values.get(a, _lookup(base, a)) for a in axes}}
    return out


def _lookup(settings: dict, path: str):
    for key in path.split("."):
        settings = settings[key]
    return settings


def resolve_experiments(config: dict, schema: dict | None = None) -> dict[str, dict]:
    """Validate ``config`` and return experiment name -> complete settings
    (``base`` merged with the experiment's overrides, defaults filled in). A
    ``sweep`` block adds generated experiments (and replaces the implicit
    ``default`` one); their settings carry ``sweep_axis`` and ``sweep_values``."""
    schema = schema or load_schema()
    user_listed_experiments = "experiments" in config
    config = coerce_scalars(config)
    _check({**schema, "properties": {**schema["properties"], "base": {"type": "object"}}}, config, "")
    experiment_schema = {"$defs": schema["$defs"], **schema["$defs"]["experiment"]}
    base = config.get("base", {})
    filled_base = copy.deepcopy(base)
    _check(experiment_schema, filled_base, "base")
    generated = sweep_experiments(config["sweep"], filled_base) if "sweep" in config else {}
    listed = config["experiments"] if user_listed_experiments or not generated else {}
    for name in set(listed) & set(generated):
        raise ConfigError(f"config error at experiments.{name}: the sweep generates an experiment of the same name")
    out = {}
    for name, gen in {**{n: {"override": o} for n, o in listed.items()}, **generated}.items():
        # Report unknown or bad keys against where the user wrote them, then check the merge.
        _check(experiment_schema, copy.deepcopy(gen["override"]), f"experiments.{name}")
        merged = deep_merge(base, gen["override"])
        _check(experiment_schema, merged, f"experiments.{name}")
        _cross_checks(name, merged)
        if "sweep_axis" in gen:
            merged["sweep_axis"], merged["sweep_values"] = gen["sweep_axis"], gen["sweep_values"]
        out[name] = merged
    return out


def resolve_health(config: dict, schema: dict | None = None) -> dict:
    """The ``health`` thresholds with defaults filled in (validated)."""
    schema = schema or load_schema()
    health = coerce_scalars(config.get("health", {}))
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


def canonical(obj):
    """``obj`` with every dict's keys sorted, recursively. Snakemake compares
    ``params`` by their text, so equal settings must also print equally."""
    return json.loads(json.dumps(obj, sort_keys=True))


def build_plan(experiments: dict[str, dict]) -> Plan:
    """Content-addressed jobs for resolved ``experiments``; identical settings
    share one ID and so one job. All settings are canonical (sorted keys)."""
    plan = Plan()
    for name, e in ((n, canonical(e)) for n, e in experiments.items()):
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
