"""The devinterp side of benchmarks/vs_devinterp.py. Runs in devinterp's own virtual
environment (torch + devinterp 2.0.1, never this project's), started by
vs_devinterp.py as

    <venv>/bin/python benchmarks/devinterp_worker.py PROBLEM.npz

PROBLEM.npz holds the data ``x`` (n, in_dim), ``y`` (n, out_dim) and ``w_star`` (d,),
float32, the MLP's ``layer_sizes``, and ``settings``, a JSON string: activation, bias,
loss, n_beta, lr, gamma, chains, steps, batch_size, threads. The worker rebuilds the
MLP in PyTorch with the weights of the flat w* (``layers``: the layout of
``llcbench.model``), prints one JSON line ``{"ready": true, "loss_star": L_n(w*), "pred":
f(x; w*)}`` (torch's L_n over all n rows and its predictions, for the caller to compare
with its own), runs
one short untimed warm-up chain, then answers each stdin line ``run SEED`` with one JSON
line: a ``devinterp.slt.llc.llc`` call (``sample`` + ``compute_llc``, chains one after
another, as devinterp runs them) from ``init_seed = SEED``. ``quit`` ends it.

Each dataset item i is ``input_ids = [i, i]`` (devinterp wants sequences of length >= 2)
and the loss function looks up row i and returns its loss with shape (batch, 1), the
(batch, seq - 1) devinterp asks for.

Nothing here but ``layers`` runs at import, so the project's tests can import the
module without torch.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np


def layers(w: np.ndarray, sizes: list[int], bias: bool = True) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """``[(W_l, b_l), ...]`` of the flat parameter vector ``w`` (d,): W_l of shape
    (fan_in, fan_out), b_l (fan_out,) or None without biases, in the layout of
    ``llcbench.model`` (``ravel_pytree`` over ``[(W_1, b_1), ..., (W_L, b_L)]``,
    each W row-major). A torch ``Linear`` computes x·weightᵀ + bias, so its weight is Wᵀ.
    Raises ValueError when ``w`` is not exactly that long."""
    w = np.asarray(w)
    need = sum(a * b + (b if bias else 0) for a, b in zip(sizes[:-1], sizes[1:]))
    if w.shape != (need,):
        raise ValueError(f"w has shape {w.shape}, layer sizes {sizes} (bias={bias}) need ({need},)")
    out, offset = [], 0
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        W = w[offset : offset + fan_in * fan_out].reshape(fan_in, fan_out)
        offset += fan_in * fan_out
        b = None
        if bias:
            b = w[offset : offset + fan_out]
            offset += fan_out
        out.append((W, b))
    return out


def build_model(w_star: np.ndarray, sizes: list[int], activation: str, bias: bool):
    """The MLP as a torch ``Sequential`` holding the weights of ``w_star``."""
    import torch

    acts = {"relu": torch.nn.ReLU, "tanh": torch.nn.Tanh, "gelu": lambda: torch.nn.GELU(approximate="tanh"), "identity": torch.nn.Identity}
    mods = []
    for i, (W, b) in enumerate(layers(w_star, sizes, bias)):
        lin = torch.nn.Linear(W.shape[0], W.shape[1], bias=bias)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(np.ascontiguousarray(W.T)))
            if bias:
                lin.bias.copy_(torch.from_numpy(np.ascontiguousarray(b)))
        mods.append(lin)
        if i < len(sizes) - 2:
            mods.append(acts[activation]())  # jax.nn.gelu's default is the tanh approximation
    return torch.nn.Sequential(*mods)


def main() -> None:
    problem = np.load(sys.argv[1])
    s = json.loads(str(problem["settings"]))
    import torch

    torch.set_num_threads(s["threads"])
    import devinterp.slt.sampling as sampling
    from datasets import Dataset
    from devinterp.slt.llc import llc

    if s["loss"] != "mse":
        raise SystemExit(f"devinterp_worker: loss {s['loss']!r} not supported (mse only)")
    x, y = torch.from_numpy(problem["x"]), torch.from_numpy(problem["y"])
    sizes = [int(v) for v in problem["layer_sizes"]]
    model = build_model(problem["w_star"], sizes, s["activation"], s["bias"])
    n = x.shape[0]
    dataset = Dataset.from_dict({"input_ids": [[i, i] for i in range(n)]}).with_format("torch")

    def loss_fn(model, input_ids):
        """Per-row loss ‖y_i − f(x_i)‖² (as llcbench's mse), shape (batch, 1)."""
        idx = input_ids[:, 0]
        return torch.sum(torch.square(y[idx] - model(x[idx])), dim=-1, keepdim=True)

    with torch.no_grad():
        pred = model(x)
        loss_star = float(torch.mean(torch.sum(torch.square(y - pred), dim=-1)))

    chain_seconds: list[float] = []
    inner = sampling.sample_single_chain

    def timed_chain(*args, **kwargs):  # sample() looks this name up in its module on every chain
        t0 = time.perf_counter()
        inner(*args, **kwargs)
        chain_seconds.append(time.perf_counter() - t0)

    sampling.sample_single_chain = timed_chain

    def run(seed: int, chains: int, steps: int, out_dir: str) -> dict:
        import warnings

        chain_seconds.clear()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            t0 = time.perf_counter()
            res = llc(
                model,
                dataset,
                {},
                lr=s["lr"],
                n_beta=s["n_beta"],
                localization=s["gamma"],
                num_chains=chains,
                num_draws=steps,
                num_burnin_steps=0,
                num_steps_bw_draws=1,
                batch_size=s["batch_size"],
                init_seed=seed,
                loss_fn=loss_fn,
                device="cpu",
                output_path=f"{out_dir}/samples_{seed}_{time.time_ns()}.zarr",  # an existing path would be read back as a cache
            )
            trace = np.asarray(res["loss_trace"].values, np.float64)
            seconds = time.perf_counter() - t0
        failed = [str(w.message) for w in caught if "Chain failed" in str(w.message)]
        return {
            "seed": seed,
            "chains": chains,
            "steps": steps,
            "seconds": seconds,
            "chain_seconds": list(chain_seconds),
            "llc_mean": float(res["llc_mean"]),
            "llc_std": float(res["llc_std"]),
            "llc_per_chain": [float(v) for v in res["llc_per_chain"].values],
            "init_loss": float(res["init_loss"]),
            "loss_trace": trace.tolist(),
            "failed_chains": failed,
        }

    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        run(10**6, 1, min(50, s["steps"]), tmp)  # warm-up, untimed: torch's and devinterp's first-call costs
        print(
            json.dumps(
                {
                    "ready": True,
                    "loss_star": loss_star,
                    "pred": pred.numpy().ravel().tolist(),
                    "torch": torch.__version__,
                    "threads": torch.get_num_threads(),
                }
            ),
            flush=True,
        )
        for line in sys.stdin:
            cmd = line.split()
            if not cmd or cmd[0] == "quit":
                break
            print(json.dumps(run(int(cmd[1]), s["chains"], s["steps"], tmp)), flush=True)


if __name__ == "__main__":
    main()
