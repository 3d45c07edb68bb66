"""CPU oversubscription with and without llcbench's thread control.

Starts ``--jobs`` worker processes at once, as `snakemake --cores N` starts N
one-thread jobs, each computing full-batch gradients of the default experiment's
MLP (32→62→62→62→1, n = 4096, float32). Once with XLA's thread flags from
``llcbench.runtime.xla_thread_flags(1)`` (what every workflow job gets), once with
XLA's defaults (one thread pool the size of the machine per process). Reports, per
mode, CPU seconds per wall second of each worker (1.0 = the one core it was given),
the whole batch's gradients per second, and the ratio of the two modes.

    uv run python benchmarks/threads.py [--jobs 2] [--iters 300] [--out results/benchmarks/threads.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

WORKER = """
import json, sys, time
import jax, jax.numpy as jnp
from llcbench.model import init_params, make_apply
iters = int(sys.argv[1])
sizes = [32, 62, 62, 62, 1]
apply = make_apply(sizes, "relu")
w = init_params(jax.random.key(0), sizes)
x = jax.random.normal(jax.random.key(1), (4096, 32))
y = jax.random.normal(jax.random.key(2), (4096, 1))
grad = jax.grad(lambda w: jnp.mean((apply(w, x) - y) ** 2))
loop = jax.jit(lambda w: jax.lax.fori_loop(0, iters, lambda i, w: w - 1e-6 * grad(w), w))
loop(w).block_until_ready()  # compile outside the timed region
c0, t0 = time.process_time(), time.perf_counter()
loop(w).block_until_ready()
print(json.dumps({"cpu_s": time.process_time() - c0, "wall_s": time.perf_counter() - t0, "grads": iters}))
"""


def run_batch(jobs: int, iters: int, xla_flags: str | None) -> dict:
    """``jobs`` concurrent workers; returns per-worker CPU/wall and batch throughput."""
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    if xla_flags:
        env["XLA_FLAGS"] = xla_flags
    t0 = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, str(iters)], stdout=subprocess.PIPE, text=True, env=env)
             for _ in range(jobs)]
    results = [json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in procs]
    span = max(r["wall_s"] for r in results)
    return {
        "xla_flags": xla_flags or "(XLA defaults)",
        "cpu_per_wall": [round(r["cpu_s"] / r["wall_s"], 2) for r in results],
        "grads_per_s": sum(r["grads"] for r in results) / span,
        "batch_wall_s": time.perf_counter() - t0,
    }


def main() -> None:
    from llcbench.runtime import xla_thread_flags

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=os.cpu_count())
    ap.add_argument("--iters", type=int, default=300)
    ap.add_argument("--out", default="results/benchmarks/threads.json")
    args = ap.parse_args()
    controlled = run_batch(args.jobs, args.iters, xla_thread_flags(1))
    default = run_batch(args.jobs, args.iters, None)
    result = {"cores": os.cpu_count(), "jobs": args.jobs, "controlled": controlled, "xla_default": default,
              "throughput_ratio_controlled_vs_default": controlled["grads_per_s"] / default["grads_per_s"]}
    print(f"{args.jobs} concurrent one-core jobs on {os.cpu_count()} cores")
    print(f"{'mode':<14} {'CPU s / wall s per job':<26} {'grads/s (batch)':>16}")
    for name in ("controlled", "xla_default"):
        r = result[name]
        print(f"{name:<14} {str(r['cpu_per_wall']):<26} {r['grads_per_s']:>16.0f}")
    print(f"throughput, controlled / XLA defaults: {result['throughput_ratio_controlled_vs_default']:.2f}x")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
