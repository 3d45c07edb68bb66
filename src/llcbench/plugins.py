"""The samplers a config can run: the built-ins (the schema's ``samplers`` blocks) and plug-ins
named by ``samplers.<name>.module``, each checked against the sampler contract and its own
settings schema before any job starts."""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path
from typing import NamedTuple

from llcbench import samplers
from llcbench.errors import ConfigError
from llcbench.samplers.spec import ContractError, SamplerSpec, build_parameters, read_spec
from llcbench.schema import check, load_schema


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


def plugin_entry(at: str, block: dict) -> SamplerEntry:
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


def validate_plugin(at: str, block: dict, schema: dict, entry: SamplerEntry) -> dict:
    """``block`` (a plug-in's settings) validated against its declared schema, defaults
    filled, ``source_sha256`` added; its keys must be the parameters of its ``build``."""
    block_schema = {
        "$defs": schema["$defs"],
        "type": "object",
        "additionalProperties": False,
        # properties first: the validator fills the module's defaults in before `required` is checked
        "properties": {
            **{k: {} for k in samplers.CHAIN_SETTINGS + samplers.PLAN_KEYS},
            **entry.spec.settings_schema,
            "module": {"type": "string"},
        },
        "allOf": [{"$ref": "#/$defs/chain_settings"}],
        "required": list(samplers.CHAIN_SETTINGS),
    }
    block = copy.deepcopy(block)
    check(block_schema, block, at)
    params = build_parameters(entry.file)
    own = sorted(k for k in block if k not in samplers.CHAIN_SETTINGS + samplers.PLUGIN_KEYS + samplers.PLAN_KEYS)
    if params is not None and sorted(params) != own:
        raise _plugin_error(f"{at}.module", f"build() of {entry.module!r} takes {sorted(params)} but its settings are {own}")
    block["source_sha256"] = hashlib.sha256(entry.file.read_bytes()).hexdigest()
    return block


def sampler_registry(plugins: dict, schema: dict | None = None) -> dict[str, SamplerEntry]:
    """Every sampler a run of this config may name: the built-ins, then the ``plugins``
    (name -> SamplerEntry) that ``resolve_experiments`` found."""
    builtins = {
        name: SamplerEntry(None, samplers.module_file(name), read_spec(samplers.module_file(name))) for name in builtin_samplers(schema)
    }
    return {**builtins, **plugins}
