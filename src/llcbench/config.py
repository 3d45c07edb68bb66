"""Configuration: schema validation with defaults, samplers from outside the
package, cross-key checks, experiment expansion (listed experiments; sweeps: ``llcbench.sweep``). Pure
Python (no JAX), imported by the Snakefile; the job plan is ``llcbench.plan``."""

from __future__ import annotations

import copy
import functools
import hashlib
import math
from pathlib import Path
from typing import NamedTuple

import jsonschema
import yaml

from llcbench import samplers
from llcbench.errors import ConfigError
from llcbench.sweep import deep_merge, sweep_experiments
from llcbench.checkpoints import SNAPSHOT_BYTES_MAX, checkpoint_grid, checkpoint_steps, nearest_grid_steps
from llcbench.model import count_params, layer_sizes
from llcbench.plan import build_plan, draw_count
from llcbench.samplers.spec import ContractError, SamplerSpec, build_parameters, read_spec

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
        return "allowed: null or " + ", ".join(
            str(o.get("type") or _DEF_WORDS.get(o.get("$ref", "").split("/")[-1])) for o in error.validator_value if o.get("type") != "null"
        )
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


def _cross_checks(where: str, e: dict) -> None:
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
        if "batch_size" in st and st["batch_size"] > n:
            raise ConfigError(f"{at}.samplers.{s}.batch_size: {st['batch_size']} exceeds data.n = {n}; allowed: 1..{n}")
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


class SamplerEntry(NamedTuple):
    """A sampler the config can run: ``module`` is None for a built-in, else the plug-in's
    module setting; ``file`` its source; ``spec`` its declaration."""

    module: str | None
    file: Path
    spec: SamplerSpec


def builtin_samplers(schema: dict | None = None) -> list[str]:
    """Names of the built-in samplers: the blocks under ``samplers`` in the schema, in order."""
    return list((schema or load_schema())["$defs"]["samplers"]["properties"])


def _plugin_error(at: str, what: str) -> ConfigError:
    return ConfigError(
        f"config error at {at}: {what}; allowed: a module importable from the working directory (my_pkg.my_sampler) "
        "or a path to a .py file, meeting the sampler contract of llcbench.samplers"
    )


def _plugin_entry(at: str, block: dict) -> SamplerEntry:
    module = block.get("module")
    if not isinstance(module, str) or not module:
        raise ConfigError(
            f"config error at {at}.module: {module!r} is not a module name; allowed: a dotted module name or a path to a .py file"
        )
    try:
        path = samplers.module_file("", module)
        spec = read_spec(path)
    except (ImportError, ContractError) as err:
        raise _plugin_error(f"{at}.module", f"cannot use {module!r} ({err})") from None
    if spec.settings_schema is None:
        raise _plugin_error(f"{at}.module", f"{module!r} declares no settings_schema in its SPEC")
    return SamplerEntry(module, path, spec)


def _validate_plugin(at: str, block: dict, schema: dict, entry: SamplerEntry) -> dict:
    """``block`` (a plug-in's settings) validated against its declared schema, defaults
    filled, ``source_sha256`` added; its keys must be the parameters of its ``build``."""
    block_schema = {
        "$defs": schema["$defs"],
        "type": "object",
        "additionalProperties": False,
        # properties first: the validator fills the module's defaults in before `required` is checked
        "properties": {**{k: {} for k in samplers.CHAIN_SETTINGS}, **entry.spec.settings_schema, "module": {"type": "string"}},
        "allOf": [{"$ref": "#/$defs/chain_settings"}],
        "required": list(samplers.CHAIN_SETTINGS),
    }
    block = copy.deepcopy(block)
    _check(block_schema, block, at)
    params = build_parameters(entry.file)
    own = sorted(k for k in block if k not in samplers.CHAIN_SETTINGS + samplers.PLUGIN_KEYS)
    if params is not None and sorted(params) != own:
        raise _plugin_error(f"{at}.module", f"build() of {entry.module!r} takes {sorted(params)} but its settings are {own}")
    block["source_sha256"] = hashlib.sha256(entry.file.read_bytes()).hexdigest()
    return block


def _validate_experiment(schema: dict, settings: dict, where: str, registry: dict, partial: bool = False) -> dict:
    """``settings`` (an experiment, whole or ``partial`` overrides) validated with defaults
    filled. Blocks under ``samplers`` that are not built-ins must name a ``module`` (a
    plug-in); each is validated against the schema its module declares and recorded in
    ``registry``. In ``partial`` overrides, a block of a plug-in already in ``registry`` may
    leave its module out: it is checked once merged over ``base``."""
    settings = copy.deepcopy(settings)
    blocks = settings.get("samplers")
    plugins = {}
    if isinstance(blocks, dict):
        builtins = builtin_samplers(schema)
        for name in [k for k in blocks if k not in builtins]:
            at = f"{where}.samplers.{name}"
            if partial and name in registry and isinstance(blocks[name], dict) and "module" not in blocks[name]:
                blocks.pop(name)
                continue
            if not isinstance(blocks[name], dict) or "module" not in blocks[name]:
                raise ConfigError(
                    f"config error at {where}.samplers: unknown key {name!r}; allowed keys: {', '.join(builtins)}, "
                    "or a sampler of your own: a block with a module key"
                )
            entry = _plugin_entry(at, blocks[name])
            known = registry.get(name)
            if known is not None and known.module != entry.module:
                raise ConfigError(
                    f"config error at {at}.module: {entry.module!r}, but sampler {name!r} is {known.module!r} elsewhere; "
                    "allowed: one module per sampler name"
                )
            registry[name] = entry
            plugins[name] = _validate_plugin(at, blocks.pop(name), schema, entry)
    _check({"$defs": schema["$defs"], **schema["$defs"]["experiment"]}, settings, where)
    if plugins:
        settings["samplers"].update(plugins)
    return settings


def _check_run_samplers(where: str, e: dict) -> None:
    known = list(e["samplers"])
    for i, name in enumerate(e["run_samplers"]):
        if name not in known:
            raise ConfigError(
                f"config error at {where}.run_samplers.{i}: unknown sampler {name!r}; allowed: {', '.join(known)} "
                "(or a block of your own under samplers with a module key)"
            )


def resolve_experiments(config: dict, schema: dict | None = None, registry: dict | None = None) -> dict[str, dict]:
    """Validate ``config`` and return experiment name -> complete settings
    (``base`` merged with the experiment's overrides, defaults filled in). A
    ``sweep`` block adds generated experiments (and replaces the implicit
    ``default`` one); their settings carry ``sweep_axis`` and ``sweep_values``.
    Plug-in samplers found on the way are added to ``registry`` (name -> SamplerEntry)."""
    schema = schema or load_schema()
    registry = {} if registry is None else registry
    user_listed_experiments = "experiments" in config
    config = coerce_scalars(config)
    reject_nonfinite(config)
    _check({**schema, "properties": {**schema["properties"], "base": {"type": "object"}}}, config, "")
    base = config.get("base", {})
    filled_base = _validate_experiment(schema, base, "base", registry)
    generated = sweep_experiments(config["sweep"], filled_base) if "sweep" in config else {}
    listed = config["experiments"] if user_listed_experiments or not generated else {}
    for name in sorted(set(listed) & set(generated)):
        raise ConfigError(
            f"config error at experiments.{name}: the sweep generates an experiment of the same name; allowed: any other name"
        )
    out = {}
    for name, gen in {**{n: {"override": o} for n, o in listed.items()}, **generated}.items():
        # Messages name where the settings came from: base alone, a listed experiment, or a sweep point.
        where = f"sweep[{name}]" if name in generated else f"experiments.{name}" if user_listed_experiments else "base"
        _validate_experiment(schema, gen["override"], where, registry, partial=True)
        merged = _validate_experiment(schema, deep_merge(base, gen["override"]), where, registry)
        _check_run_samplers(where, merged)
        _cross_checks(where, merged)
        if "sweep_axis" in gen:
            merged["sweep_axis"], merged["sweep_values"] = gen["sweep_axis"], gen["sweep_values"]
        out[name] = merged
    return out


def sampler_registry(plugins: dict, schema: dict | None = None) -> dict[str, SamplerEntry]:
    """Every sampler a run of this config may name: the built-ins, then the ``plugins``
    (name -> SamplerEntry) that ``resolve_experiments`` found."""
    builtins = {
        name: SamplerEntry(None, samplers.module_file(name), read_spec(samplers.module_file(name))) for name in builtin_samplers(schema)
    }
    return {**builtins, **plugins}


def resolve_health(config: dict, schema: dict | None = None) -> dict:
    """The ``health`` thresholds with defaults filled in (validated)."""
    schema = schema or load_schema()
    health = coerce_scalars(config.get("health", {}))
    reject_nonfinite(health, "health")
    _check({"$defs": schema["$defs"], **schema["properties"]["health"]}, health, "health")
    return health


def reject_duplicate_keys(path: str | Path) -> None:
    """Raise ``ConfigError`` at a key that a mapping of the YAML (or JSON)
    file ``path`` holds twice. Snakemake's loaders, like PyYAML's, silently keep
    the last value, so a repeated experiment name would drop an experiment. A file
    that does not parse as YAML is left to Snakemake, which has already read it."""
    try:
        root = yaml.compose(Path(path).read_text(), Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return
    stack = [(root, "")]
    while stack:
        node, prefix = stack.pop()
        if isinstance(node, yaml.SequenceNode):
            stack += [(item, f"{prefix}{i}.") for i, item in enumerate(node.value)]
        elif isinstance(node, yaml.MappingNode):
            seen: dict[str, int] = {}
            for key, value in node.value:
                line = key.start_mark.line + 1
                if key.value in seen:
                    raise ConfigError(
                        f"config error at {prefix}{key.value}: duplicate key {key.value!r} (lines {seen[key.value]} and {line} of {path}); "
                        "allowed: each key once per mapping"
                    )
                seen[key.value] = line
                stack.append((value, f"{prefix}{key.value}."))


class CheckedConfig(NamedTuple):
    experiments: dict[str, dict]  # name -> resolved settings
    health: dict  # status thresholds
    samplers: dict[str, SamplerEntry]  # every sampler the config may run, built-ins first


def check_config(config: dict, files=()) -> CheckedConfig:
    """What the Snakefile runs before any job: no duplicate keys in the config
    ``files`` Snakemake read, then the resolved experiments, health thresholds and
    sampler registry of the merged ``config``. Raises ``ConfigError`` (one line) on
    the first problem."""
    for path in files:
        reject_duplicate_keys(path)
    plugins: dict = {}
    experiments = resolve_experiments(config, registry=plugins)
    return CheckedConfig(experiments, resolve_health(config), sampler_registry(plugins))


def main(argv: list[str] | None = None) -> int:
    """``python -m llcbench.config FILE...``: check config files as
    ``snakemake --configfile FILE...`` would (merged in order over
    config/config.yaml), without Snakemake. Prints one line; unlike Snakemake's own
    message for a file that is not valid YAML, it names the file and the line."""
    import sys

    from snakemake.utils import update_config

    files = sys.argv[1:] if argv is None else argv
    default = SCHEMA_PATH.parents[2] / "config" / "config.yaml"
    config: dict = {}
    try:
        for path in [default, *files]:
            try:
                update_config(config, yaml.safe_load(Path(path).read_text()) or {})
            except yaml.YAMLError as err:
                mark = getattr(err, "problem_mark", None)
                where = f"{path} line {mark.line + 1}, column {mark.column + 1}" if mark else str(path)
                raise ConfigError(
                    f"config error at {where}: not valid YAML ({getattr(err, 'problem', None) or err}); "
                    "allowed: YAML mappings (key: value), indented with spaces"
                ) from None
        experiments = check_config(config, [default, *files]).experiments
    except ConfigError as err:
        print(err, file=sys.stderr)
        return 1
    plan = build_plan(experiments)
    print(f"config ok: {len(experiments)} experiment(s), {len(plan.data)} data, {len(plan.erm)} ERM and {len(plan.runs)} sampler jobs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
