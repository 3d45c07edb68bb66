"""Samplers of the tempered local posterior. Each module (``sgld``, ``hmc``,
``mclmc``, ``adjusted_mclmc``, ``sghmc``, ``sgnht``) exposes ``prepare(posterior, settings, key, chains) -> Prepared``;
``driver.sample`` runs any of them the same way."""

import importlib

SAMPLER_NAMES = ("sgld", "hmc", "mclmc", "adjusted_mclmc", "sghmc", "sgnht")


def load(name: str):
    """The sampler module called ``name`` (imported on demand, so a job imports
    only the sampler it runs)."""
    if name not in SAMPLER_NAMES:
        raise ValueError(f"unknown sampler {name!r}; allowed: {', '.join(SAMPLER_NAMES)}")
    return importlib.import_module(f"llcbench.samplers.{name}")
