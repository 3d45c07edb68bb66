"""benchmarks/vs_devinterp.py without devinterp: the pieces that need neither torch nor the
network (the benchmark itself installs torch and devinterp, too heavy for the suite). The
flat-vector → layer mapping the worker loads the torch model with, the summary arithmetic,
how a devinterp reply is read, and the venv check."""

import math
import stat
import statistics

import numpy as np
import pytest

from conftest import ROOT


@pytest.fixture
def vs(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import vs_devinterp

    return vs_devinterp


@pytest.fixture
def worker(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import devinterp_worker

    return devinterp_worker


@pytest.mark.parametrize("bias", [True, False])
def test_layers_give_the_models_forward_pass(worker, bias):
    """The (W, b) the worker loads into torch's Linear layers, chained as torch chains them
    (x·weightᵀ + bias with weight = Wᵀ), give llcbench's forward pass of the same flat w."""
    import jax.numpy as jnp

    from llcbench.model import count_params, make_apply

    sizes = [5, 4, 3, 2]
    rng = np.random.default_rng(0)
    w = rng.standard_normal(count_params(sizes, bias)).astype(np.float32)
    x = rng.standard_normal((7, sizes[0])).astype(np.float32)
    h = x
    parts = worker.layers(w, sizes, bias)
    assert [W.shape for W, _ in parts] == [(5, 4), (4, 3), (3, 2)]
    for i, (W, b) in enumerate(parts):
        weight = np.ascontiguousarray(W.T)  # what the worker copies into Linear.weight
        h = h @ weight.T + (b if bias else 0.0)
        if i < len(parts) - 1:
            h = np.maximum(h, 0.0)
    expected = np.asarray(make_apply(sizes, "relu", bias)(jnp.asarray(w), jnp.asarray(x)))
    np.testing.assert_allclose(h, expected, rtol=1e-5, atol=1e-6)  # float32, different summation order
    with pytest.raises(ValueError, match="need"):
        worker.layers(w[:-1], sizes, bias)


def run(llc, se, seconds, grads, steps=8000):
    return {"llc": llc, "llc_se": se, "seconds": seconds, "grads": grads, "chain_steps": steps}


def test_summary_arithmetic(vs):
    ours = [run(60.0, 1.0, 2.0, 8400), run(61.0, 2.0, 4.0, 8400)]
    theirs = [run(59.0, 0.5, 10.0, 8000), run(62.0, 0.5, 16.0, 8000)]
    s = vs.summarise(ours, theirs)
    # each alternating pair's ratio: (8400/2)/(8000/10), (8400/4)/(8000/16)
    assert s["grads_per_s_ratio"] == pytest.approx([4200 / 800, 2100 / 500])
    assert s["grads_per_s_ratio_spread"] == pytest.approx({"median": (5.25 + 4.2) / 2, "min": 4.2, "max": 5.25})
    assert s["chain_steps_per_s_ratio"] == pytest.approx([5.0, 4.0])
    a, b = s["ours"], s["devinterp"]
    assert a["llc"] == 60.5 and b["llc"] == 60.5
    # SE of the mean over runs: pooled MCSE √(1 + 4)/2 for ours; devinterp's spread, sd 2.12/√2 = 1.5, beats √0.5/2
    assert a["llc_se_mcse"] == pytest.approx(math.sqrt(5) / 2) and a["llc_se"] == a["llc_se_mcse"]
    assert b["llc_se_spread"] == pytest.approx(1.5) and b["llc_se"] == pytest.approx(1.5)
    # WNV: a run's SE² × its seconds (median over runs); the variance across runs × the median seconds
    assert a["wnv_mcse"] == pytest.approx((1 * 2 + 4 * 4) / 2) and b["wnv_mcse"] == pytest.approx(0.25 * 13)
    assert b["wnv_spread"] == pytest.approx(4.5 * 13) and a["wnv_spread"] == pytest.approx(0.5 * 3)
    assert s["wnv_mcse_ratio"] == pytest.approx(3.25 / 9) and s["wnv_spread_ratio"] == pytest.approx(58.5 / 1.5)
    assert s["llcs_agree"] and s["llc_z"] == 0.0
    assert s["goal"] == {"grads_per_s_ratio": 10.0, "measured": pytest.approx(4.725), "met": False}


def test_summary_flags_disagreeing_llcs_and_a_met_goal(vs):
    ours = [run(60.0, 0.5, 1.0, 8400)]
    theirs = [run(50.0, 0.5, 20.0, 8000)]
    s = vs.summarise(ours, theirs)  # one run each: the MCSE alone, no spread
    assert math.isnan(s["ours"]["wnv_spread"]) and s["ours"]["llc_se"] == 0.5
    assert s["llc_z"] == pytest.approx(10 / math.hypot(0.5, 0.5)) and not s["llcs_agree"]
    assert s["goal"]["met"] and s["goal"]["measured"] == pytest.approx(8400 / 400)
    with pytest.raises(ValueError):
        vs.summarise(ours, theirs * 2)  # runs come in alternating pairs


def test_a_devinterp_reply_is_read_with_the_projects_estimator(vs):
    rng = np.random.default_rng(1)
    trace = 0.25 + 0.01 * rng.standard_normal((4, 300))
    nbeta, init = 100.0, 0.2
    per_chain = nbeta * (trace.mean(axis=1) - init)
    reply = {
        "seed": 7,
        "chains": 4,
        "steps": 300,
        "seconds": 9.0,
        "chain_seconds": [2.0, 2.0, 2.0, 2.5],
        "llc_mean": float(per_chain.mean()),
        "llc_std": float(per_chain.std()),
        "llc_per_chain": per_chain.tolist(),
        "init_loss": init,
        "loss_trace": trace.tolist(),
        "failed_chains": [],
    }
    r = vs.theirs(reply, nbeta)
    assert r["seconds"] == 8.5 and r["total_seconds"] == 9.0  # the chains' loop, not sample()'s set-up
    assert r["grads"] == r["chain_steps"] == 1200
    assert r["llc_estimator_check"] == pytest.approx(r["llc"])
    # independent draws: ESS ≈ N, estimated within a few % at N = 1200 (fixed seed); SE ∝ 1/√ESS
    assert r["llc_se"] == pytest.approx(nbeta * trace.std() / math.sqrt(trace.size), rel=0.2)
    with pytest.raises(RuntimeError, match="Chain failed"):
        vs.theirs({**reply, "failed_chains": ["Chain failed: Chain 2 failed: Loss is NaN or Inf"]}, nbeta)


def fake_venv(path, devinterp):
    """A venv whose python answers the version check with ``devinterp``'s version."""
    (path / "bin").mkdir(parents=True)
    py = path / "bin" / "python"
    py.write_text(f'#!/bin/sh\necho \'{{"torch": "2.13.0", "devinterp": "{devinterp}", "python": "3.11"}}\'\n')
    py.chmod(py.stat().st_mode | stat.S_IEXEC)


def test_an_installed_venv_is_reused_and_a_full_disk_refused(vs, tmp_path, monkeypatch):
    fake_venv(tmp_path / "good", vs.DEVINTERP)
    assert vs.ensure_venv(tmp_path / "good", "no-such-python", "2.13.0")["devinterp"] == vs.DEVINTERP  # no install tried
    fake_venv(tmp_path / "old", "1.3.0")
    monkeypatch.setattr(vs.shutil, "disk_usage", lambda p: type("U", (), {"free": 10**9})())
    with pytest.raises(SystemExit, match="1.0 GB free"):
        vs.ensure_venv(tmp_path / "old", "no-such-python", "2.13.0")


def test_tool_summary_spread_is_the_sample_sd(vs):
    runs = [run(v, 0.1, 1.0, 100) for v in (58.0, 60.0, 65.0)]
    t = vs.tool_summary(runs)
    assert t["llc_sd_between_runs"] == pytest.approx(statistics.stdev([58.0, 60.0, 65.0]))
    assert t["llc_se"] == pytest.approx(t["llc_sd_between_runs"] / math.sqrt(3))
