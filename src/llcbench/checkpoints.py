"""Which training steps an ERM job with ``training.checkpoints`` keeps, and which of them a
``training.checkpoints`` setting selects. Pure Python (no JAX): the config check, the job plan
and the ERM stage share it, and its source is part of the ERM stage's code hash, so a changed
grid re-runs the ERM jobs that keep one."""

from __future__ import annotations

import math

# The rule of the kept steps, by name (in the ERM settings, so in the ERM ID, of every job that keeps them).
CHECKPOINT_GRID = "two_significant_digits"
SNAPSHOT_BYTES_MAX = 512 * 2**20  # kept parameter vectors (float32) per ERM job, in memory and in erm.nc


def checkpoint_grid(steps: int) -> list[int]:
    """The training steps whose parameters an ERM job with checkpoints keeps: every step in
    1..``steps`` written with at most two significant digits (1..99, 100, 110, ..., 990,
    1000, 1100, ...: about 90 per decade, 1% to 10% apart), and ``steps`` itself."""
    grid, scale = [], 1
    while scale <= steps:
        grid += [m * scale for m in range(1 if scale == 1 else 10, 100) if m * scale <= steps]
        scale *= 10
    return sorted(set(grid) | {steps})


def nearest_grid_steps(step: int, steps: int) -> list[int]:
    """The grid steps just below and just above ``step`` (one of them when ``step`` is outside the grid's range)."""
    grid = checkpoint_grid(steps)
    below = [t for t in grid if t < step][-1:]
    above = [t for t in grid if t > step][:1]
    return below + above


def checkpoint_steps(checkpoints, steps: int) -> list[int]:
    """The sorted training steps of ``training.checkpoints``: a list of grid steps as given
    (validated by the config), or a count K: K log-spaced steps from 1 to ``steps`` (the final
    step included), each the grid step nearest in log distance, duplicates merged (fewer than K
    when ``steps`` is small)."""
    if checkpoints is None:
        return []
    if isinstance(checkpoints, list):
        return sorted(set(checkpoints))
    grid = checkpoint_grid(steps)
    k = int(checkpoints)
    targets = [math.exp(math.log(steps) * i / (k - 1)) for i in range(k)] if k > 1 else [steps]
    return sorted({min(grid, key=lambda t: abs(math.log(t) - math.log(x))) for x in targets} | {steps})
