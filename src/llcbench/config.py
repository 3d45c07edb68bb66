"""Configuration: a user's config resolved into complete, validated experiments (base merged
with each listed experiment or sweep point), the health thresholds, and the offline checker
(``python -m llcbench.config FILE...``). Schema validation is ``llcbench.schema``, plug-in
samplers ``llcbench.plugins``, cross-key checks ``llcbench.cross_checks``, sweeps
``llcbench.sweep``. Pure Python (no JAX), imported by the Snakefile; the job plan is
``llcbench.plan``."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import NamedTuple

import yaml

from llcbench.cross_checks import cross_checks
from llcbench.errors import ConfigError
from llcbench.plan import build_plan
from llcbench.plugins import SamplerEntry, builtin_samplers, plugin_entry, sampler_registry, validate_plugin
from llcbench.schema import SCHEMA_PATH, check, coerce_scalars, load_schema, reject_nonfinite
from llcbench.sweep import deep_merge, sweep_experiments

__all__ = ["ConfigError", "check_config", "coerce_scalars", "deep_merge", "load_schema", "resolve_experiments", "resolve_health"]


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
            entry = plugin_entry(at, blocks[name])
            known = registry.get(name)
            if known is not None and known.module != entry.module:
                raise ConfigError(
                    f"config error at {at}.module: {entry.module!r}, but sampler {name!r} is {known.module!r} elsewhere; "
                    "allowed: one module per sampler name"
                )
            registry[name] = entry
            plugins[name] = validate_plugin(at, blocks.pop(name), schema, entry)
    check({"$defs": schema["$defs"], **schema["$defs"]["experiment"]}, settings, where)
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
    check({**schema, "properties": {**schema["properties"], "base": {"type": "object"}}}, config, "")
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
        cross_checks(where, merged)
        if "sweep_axis" in gen:
            merged["sweep_axis"], merged["sweep_values"] = gen["sweep_axis"], gen["sweep_values"]
        out[name] = merged
    return out


def resolve_health(config: dict, schema: dict | None = None) -> dict:
    """The ``health`` thresholds with defaults filled in (validated)."""
    schema = schema or load_schema()
    health = coerce_scalars(config.get("health", {}))
    reject_nonfinite(health, "health")
    check({"$defs": schema["$defs"], **schema["properties"]["health"]}, health, "health")
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
