"""The config's JSON Schema (workflow/schemas/config.schema.yaml): loading it, validating a
value against it with defaults filled in, and one-line error messages that name the key path
and what is allowed; plus the scalar clean-ups applied before validation."""

from __future__ import annotations

import copy
import functools
import math
from pathlib import Path

import jsonschema
import yaml

from llcbench.errors import ConfigError

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"


@functools.lru_cache(maxsize=4)
def load_schema(path: Path = SCHEMA_PATH) -> dict:
    """The config schema (read once per process; callers never modify it)."""
    return yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


@functools.cache
def _filling_validator_class():
    """A draft 2020-12 validator class that fills in ``default`` values as it goes."""
    base = jsonschema.Draft202012Validator
    validate_properties = base.VALIDATORS["properties"]

    def properties_with_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if "default" in sub and name not in instance:
                    instance[name] = copy.deepcopy(sub["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(base, {"properties": properties_with_defaults})


def _validator(schema: dict):
    """A validator of ``schema`` that fills in defaults."""
    return _filling_validator_class()(schema)


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
        return "allowed: null or " + ", ".join(_option_word(o) for o in error.validator_value if o.get("type") != "null")
    if v == "anyOf":  # e.g. a number or a keyword (samplers.sgld.step_size: a number > 0 or auto)
        return "allowed: " + " or ".join(_option_word(o) for o in error.validator_value)
    if v == "required":
        return "allowed: a mapping that includes " + ", ".join(error.validator_value)
    if v == "uniqueItems":
        return "allowed: distinct values"
    if v == "pattern":
        return f"allowed: names matching {error.validator_value}"
    return "allowed: see workflow/schemas/config.schema.yaml"


_DEF_WORDS = {
    "width_list": "a list of integers >= 1",
    "positive_number": "a number > 0",
    "positive_int": "an integer >= 1",
    "checkpoint_count": "a count of checkpoints >= 2",
    "checkpoint_list": "a list of distinct training steps >= 1",
}


def _option_word(option: dict) -> str:
    """One alternative of a oneOf/anyOf in words: its constant, its type, or its $defs entry's words."""
    if "const" in option:
        return str(option["const"])
    return str(option.get("type") or _DEF_WORDS.get(option.get("$ref", "").split("/")[-1]))


def _format(error: jsonschema.ValidationError, prefix: str) -> str:
    # an anyOf names all its alternatives itself (best_match would name one branch's rule only)
    best = error if error.validator == "anyOf" else jsonschema.exceptions.best_match([error])
    path = ".".join([prefix, *map(str, best.absolute_path)]).strip(".") or "<top level>"
    if best.validator == "additionalProperties":
        extra = sorted(set(best.instance) - set(best.schema.get("properties", {})))
        msg = f"unknown key {', '.join(map(repr, extra))}"
    else:
        msg = best.message
    allowed = _allowed(best)
    return f"config error at {path}: {msg}" + (f"; {allowed}" if allowed else "")


def check(schema: dict, instance, prefix: str) -> None:
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


def reject_nonfinite(obj, prefix: str = "") -> None:
    """Raise ``ConfigError`` at the first NaN or infinite number anywhere in ``obj``.
    JSON Schema's range checks let both through (every comparison with NaN is false,
    +inf passes every ``minimum``), and no setting accepts them."""
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else ()
    for key, value in items:
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"config error at {path}: {value} is not a finite number; allowed: finite numbers (no .nan, .inf or -.inf)")
        reject_nonfinite(value, path)
