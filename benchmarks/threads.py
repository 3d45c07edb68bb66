"""CPU oversubscription with and without llcbench's thread control.

Starts ``--jobs`` worker processes at once, as `snakemake --cores N` starts N
one-thread jobs, each computing full-batch gradients of the default experiment's
MLP (32→62→62→62→1, n = 4096, float32; ``--width``/``--n`` for bigger ones). Once with XLA's thread flags from
``llcbench.runtime.thread_env(1)`` (what every one-thread workflow job gets), once with
XLA's defaults (one thread pool the size of the machine per process). Reports, per
mode, CPU seconds per wall second of each worker (at most 1 each when the jobs
fill the machine), involuntary context switches per second of each worker (time
slices taken away by other runnable threads), the median number of runnable
threads on the machine (oversubscribed when above the cores), the whole batch's
gradients per second, and the ratio of the two modes.

Then the second thread: for each ``--sizes`` entry (hidden width:n), one job alone, its
``--chains`` vmapped as a sampler's are, with 1 and with 2 threads: gradients per second of
each and their ratio, beside the threads ``llcbench.runtime.sample_threads`` gives a sampler
job of that size (it should pick 2 only where a second thread pays: below, two one-thread jobs
side by side do more).

    uv run python benchmarks/threads.py [--jobs 2] [--iters 100] [--width 62] [--n 4096] [--sizes 16:1024,30:2048,62:1024,62:4096] [--chains 4] [--out results/benchmarks/threads.json]
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
import json, resource, sys, time
import jax, jax.numpy as jnp
from llcbench.model import init_params, make_apply
iters, width, n, chains = map(int, sys.argv[1:5])
sizes = [32, width, width, width, 1]
apply = make_apply(sizes, "relu")
w = jnp.stack([init_params(jax.random.key(c), sizes) for c in range(chains)])
x = jax.random.normal(jax.random.key(1), (n, 32))
y = jax.random.normal(jax.random.key(2), (n, 1))
grad = jax.vmap(jax.grad(lambda w: jnp.mean((apply(w, x) - y) ** 2)))  # the chains side by side, as a sampler's
loop = jax.jit(lambda w: jax.lax.fori_loop(0, iters, lambda i, w: w - 1e-6 * grad(w), w))
loop(w).block_until_ready()  # compile outside the timed region
c0, t0, s0 = time.process_time(), time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF).ru_nivcsw
loop(w).block_until_ready()
print(json.dumps({"cpu_s": time.process_time() - c0, "wall_s": time.perf_counter() - t0, "grads": iters * chains,
                  "preempted": resource.getrusage(resource.RUSAGE_SELF).ru_nivcsw - s0}))
"""


def run_batch(jobs: int, argv: list[str], limits: dict | None) -> dict:
    """``jobs`` concurrent workers; returns per-worker CPU/wall and batch throughput."""
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "NPROC")}
    env.update(limits or {})
    t0 = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, *argv], stdout=subprocess.PIPE, text=True, env=env) for _ in range(jobs)]
    runnable = []  # threads ready to run, machine-wide (/proc/loadavg, 4th field), sampled every 50 ms
    while any(p.poll() is None for p in procs):
        runnable.append(int(Path("/proc/loadavg").read_text().split()[3].split("/")[0]))
        time.sleep(0.05)
    results = [json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in procs]
    span = max(r["wall_s"] for r in results)
    return {
        "thread_env": limits or "(XLA defaults)",
        "cpu_per_wall": [round(r["cpu_s"] / r["wall_s"], 2) for r in results],
        "involuntary_switches_per_s": [round(r["preempted"] / r["wall_s"]) for r in results],
        "runnable_threads_median": sorted(runnable)[len(runnable) // 2] if runnable else None,
        "grads_per_s": sum(r["grads"] for r in results) / span,
        "batch_wall_s": time.perf_counter() - t0,
    }


def second_thread(sizes: str, iters: int, chains: int) -> list[dict]:
    """Per ``width:n`` entry: one job's chain-gradients per second with 1 and with 2 threads."""
    from llcbench.runtime import sample_threads, sample_work, thread_env

    rows = []
    for entry in sizes.split(","):
        width, n = map(int, entry.split(":"))
        layers = [32, width, width, width, 1]  # the worker's MLP
        rate = {t: run_batch(1, [str(iters), str(width), str(n), str(chains)], thread_env(t))["grads_per_s"] for t in (1, 2)}
        rows.append(
            {
                "width": width,
                "n": n,
                "chains": chains,
                "work": sample_work(n, layers, chains),
                "grads_per_s_1": rate[1],
                "grads_per_s_2": rate[2],
                "speedup_2_over_1": rate[2] / rate[1],
                "sample_threads": sample_threads(n, layers, chains),
            }
        )
    return rows


def main() -> None:
    from llcbench.runtime import thread_env

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=os.cpu_count())
    ap.add_argument("--iters", type=int, default=100)
    ap.add_argument("--width", type=int, default=62, help="hidden width (62: the default experiment)")
    ap.add_argument("--n", type=int, default=4096)
    ap.add_argument("--chains", type=int, default=4, help="chains of the second-thread table (4: the default experiment's)")
    ap.add_argument("--sizes", default="16:1024,30:2048,62:1024,62:4096", help="width:n pairs for the second-thread table")
    ap.add_argument("--out", default="results/benchmarks/threads.json")
    args = ap.parse_args()
    argv = [str(args.iters), str(args.width), str(args.n), "1"]
    controlled = run_batch(args.jobs, argv, thread_env(1))
    default = run_batch(args.jobs, argv, None)
    result = {
        "cores": os.cpu_count(),
        "jobs": args.jobs,
        "width": args.width,
        "n": args.n,
        "controlled": controlled,
        "xla_default": default,
        "throughput_ratio_controlled_vs_default": controlled["grads_per_s"] / default["grads_per_s"],
    }
    print(f"{args.jobs} concurrent one-core jobs on {os.cpu_count()} cores, hidden width {args.width}, n = {args.n}")
    print(f"{'mode':<12} {'CPU s/wall s':<14} {'preemptions/s':<16} {'runnable (median)':>17} {'grads/s':>9}")
    for name in ("controlled", "xla_default"):
        r = result[name]
        print(
            f"{name:<12} {str(r['cpu_per_wall']):<14} {str(r['involuntary_switches_per_s']):<16} "
            f"{r['runnable_threads_median']:>17} {r['grads_per_s']:>9.0f}"
        )
    print(f"throughput, controlled / XLA defaults: {result['throughput_ratio_controlled_vs_default']:.2f}x")
    result["second_thread"] = second_thread(args.sizes, args.iters, args.chains)
    print(
        f"one job alone, {args.chains} chains, 1 vs 2 threads: {'width':>5} {'n':>6} {'chains*n*weights':>10} {'1 thr grads/s':>14} {'2 thr':>8} {'2/1':>5} sample_threads"
    )
    for r in result["second_thread"]:
        print(
            f"{'':40} {r['width']:>5} {r['n']:>6} {r['work']:>10.1e} {r['grads_per_s_1']:>14.0f} "
            f"{r['grads_per_s_2']:>8.0f} {r['speedup_2_over_1']:>5.2f} {r['sample_threads']}"
        )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
