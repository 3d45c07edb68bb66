"""The analytic learning coefficient of deep linear networks (llcbench.truth) against
independent results, and the pieces that put w* where it applies."""

import itertools
from fractions import Fraction

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from llcbench import plots
from llcbench.config import ConfigError, resolve_experiments
from llcbench.erm import aligned_dln, train
from llcbench.posterior import EmpiricalLoss
from llcbench.model import count_params, factor_product, init_params, linear_product, make_apply, weight_matrices
from llcbench.truth import assess, dln_learning_coefficient, numerical_rank


def reduced_rank_regression(M, H, N, r):
    """Aoyagi & Watanabe (2005), Neural Networks 18:924, main theorem: (λ, m) of
    x ↦ B A x with input M, hidden H, output N and true rank r."""
    if M + H < N + r:
        return Fraction(H * M - H * r + N * r, 2), 1
    if N + H < M + r:
        return Fraction(H * N - H * r + M * r, 2), 1
    if M + N < H + r:
        return Fraction(M * N, 2), 1
    core = 2 * (H + r) * (M + N) - (M - N) ** 2 - (H + r) ** 2  # N + r ≤ M + H, M + r ≤ N + H, H + r ≤ M + N
    return (Fraction(core, 8), 1) if (M + H + N + r) % 2 == 0 else (Fraction(core + 1, 8), 2)


def test_two_layers_agree_with_reduced_rank_regression_in_every_case():
    cases = {"M+H<N+r": 0, "N+H<M+r": 0, "M+N<H+r": 0, "even": 0, "odd": 0}
    for M, H, N in itertools.product(range(1, 8), repeat=3):
        for r in range(min(M, H, N) + 1):
            lam, m = dln_learning_coefficient([M, H, N], r)
            want, want_m = reduced_rank_regression(M, H, N, r)
            assert lam == pytest.approx(float(want), abs=1e-12) and m == want_m, (M, H, N, r)
            key = (
                "M+H<N+r"
                if M + H < N + r
                else "N+H<M+r"
                if N + H < M + r
                else "M+N<H+r"
                if M + N < H + r
                else "even"
                if (M + H + N + r) % 2 == 0
                else "odd"
            )
            cases[key] += 1
    assert min(cases.values()) > 10, cases  # every branch of the 2005 theorem was compared


def random_networks(count=400, seed=0):
    rng = np.random.default_rng(seed)
    for _ in range(count):
        widths = list(rng.integers(1, 30, size=rng.integers(2, 8)))
        yield widths, int(rng.integers(0, min(widths) + 1))


def test_bounded_by_half_the_parameter_count():
    for widths, r in random_networks():
        lam, m = dln_learning_coefficient(widths, r)
        assert 0 < lam <= count_params(widths, bias=False) / 2 + 1e-9, (widths, r)
        assert isinstance(m, int) and m >= 1


def test_a_layer_as_narrow_as_the_rank_gives_the_full_rank_closed_form():
    # Then the product map is a submersion onto the rank-r matrices: λ = dim/2 = r(H_0 + H_L − r)/2.
    checked = 0
    for widths, _ in random_networks(seed=1):
        r = min(widths)
        lam, m = dln_learning_coefficient(widths, r)
        assert lam == pytest.approx(r * (widths[0] + widths[-1] - r) / 2) and m == 1, widths
        checked += 1
    assert checked == 400
    # a wide network with one output, whatever its hidden widths
    for hidden in ([64], [50, 7, 30], [3, 3, 3, 3]):
        assert dln_learning_coefficient([10, *hidden, 1], 1) == (5.0, 1)


def test_one_weight_matrix_is_a_regular_model():
    for widths, r in random_networks():
        lam, m = dln_learning_coefficient(widths[:2], min(r, *widths[:2]))
        assert (lam, m) == (widths[0] * widths[1] / 2, 1)


@pytest.mark.parametrize("depth", [1, 2, 3, 6])
def test_scalar_chains_by_hand(depth):
    # x ↦ w_1⋯w_L x with true map 0: K = ∏ w_i², a normal crossing: λ = 1/2, multiplicity L.
    assert dln_learning_coefficient([1] * (depth + 1), 0) == (0.5, depth)
    # true map ≠ 0: {∏ w_i = c} is smooth of codimension 1: λ = 1/2, m = 1.
    assert dln_learning_coefficient([1] * (depth + 1), 1) == (0.5, 1)


def test_small_cases_by_hand():
    # (2, 2, 2), r = 0: 3/2 (even case of the 2005 formula); (2, 1, 2): 1 with m = 2 (odd case).
    assert dln_learning_coefficient([2, 2, 2], 0) == (1.5, 1)
    assert dln_learning_coefficient([2, 1, 2], 0) == (1.0, 2)
    # (1, H, 1), r = 0: K = (a·b)², a quadratic form of signature (H, H) squared: λ = 1/2,
    # m = 2 for H = 1 (normal crossing a²b²) and 1 for H ≥ 2 (an indefinite form in ≥ 4 variables).
    assert dln_learning_coefficient([1, 1, 1], 0) == (0.5, 2)
    for h in (2, 3, 10):
        assert dln_learning_coefficient([1, h, 1], 0) == (0.5, 1)


@pytest.mark.parametrize("widths,rank", [([3], 0), ([4, 2, 4], 3), ([4, 0, 4], 0), ([4, 4], -1)])
def test_invalid_networks_are_rejected(widths, rank):
    with pytest.raises(ValueError):
        dln_learning_coefficient(widths, rank)


SIZES = [6, 5, 4, 7]


def test_bias_free_model_is_the_plain_matrix_product():
    w = init_params(jax.random.key(0), SIZES, bias=False)
    assert w.shape == (count_params(SIZES, bias=False),) == (6 * 5 + 5 * 4 + 4 * 7,)
    x = np.random.default_rng(0).normal(size=(9, 6)).astype(np.float32)
    out = make_apply(SIZES, "identity", bias=False)(w, x)
    np.testing.assert_allclose(out, x @ linear_product(weight_matrices(w, SIZES, bias=False)), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("bias", [False, True])
def test_factor_product_puts_every_layer_at_the_rank(bias):
    p = np.random.default_rng(1).normal(size=(6, 7))
    w = factor_product(p, SIZES, 3, np.random.default_rng(2), bias=bias)
    assert w.shape == (count_params(SIZES, bias),)
    mats = weight_matrices(w, SIZES, bias)
    assert [numerical_rank(m) for m in mats] == [3, 3, 3]
    u, s, vt = np.linalg.svd(p)
    np.testing.assert_allclose(linear_product(mats), (u[:, :3] * s[:3]) @ vt[:3], atol=1e-10)  # Eckart–Young truncation
    sv = [np.linalg.svd(m, compute_uv=False)[:3] for m in mats]  # balanced: equal singular values in every layer
    np.testing.assert_allclose(sv[0], sv[1])
    np.testing.assert_allclose(sv[1], sv[2])


def dln_problem(noise, seed=0, n=400, rank=2):
    """Data from a rank-``rank`` linear teacher on inputs with unequal scales, and the student's L_n."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6)) * np.linspace(0.5, 2.0, 6)
    teacher = factor_product(rng.normal(size=(6, 7)), SIZES, rank, rng, bias=False)
    y = x @ linear_product(weight_matrices(teacher, SIZES, False)) + noise * rng.normal(size=(n, 7))
    apply = make_apply(SIZES, "identity", bias=False)
    xj, yj = jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32)
    return x, y, teacher, EmpiricalLoss(xj, yj, apply, lambda pred, target: jnp.sum((target - pred) ** 2))


def test_aligned_w_star_is_a_rank_r_critical_point_no_worse_than_the_teacher():
    x, y, teacher, loss = dln_problem(noise=0.3)
    res = aligned_dln(loss, SIZES, 2, seed=0)
    assert res.grad_norm < 1e-3 * float(jnp.linalg.norm(jax.grad(loss)(jnp.asarray(teacher, jnp.float32))))
    assert res.final_loss <= float(loss(jnp.asarray(teacher, jnp.float32)))  # best rank-2 fit in the Σ̂ metric
    note = assess(weight_matrices(res.w_star, SIZES, False), x, "identity", False, "mse", 2)
    assert note["truth_note"] == "ok" and note["layer_ranks"] == [2, 2, 2] and note["product_rank"] == 2
    assert (note["true_llc"], note["true_llc_multiplicity"]) == dln_learning_coefficient(SIZES, 2)


def test_trained_w_star_keeps_extra_rank_and_is_flagged():
    # Adam from a random init (500 steps) leaves the layers, and the product, of higher numerical rank.
    x, y, _, loss = dln_problem(noise=0.0)
    settings = {"optimizer": "adam", "lr": 0.01, "steps": 500, "schedule": "cosine", "batch_size": None, "init_scale": 1.0}
    res = train(loss, SIZES, settings, seed=0, bias=False)
    out = assess(weight_matrices(res.w_star, SIZES, False), x, "identity", False, "mse", 2)
    assert max(out["layer_ranks"]) > 2 and "deepest stratum" in out["truth_note"] and np.isnan(out["true_llc"])


def test_assess_flags_each_broken_assumption():
    x, y, _, loss = dln_problem(noise=0.0)
    mats = weight_matrices(aligned_dln(loss, SIZES, 2, seed=0).w_star, SIZES, False)
    unseen = np.linalg.svd(mats[1])[0][:, -1]  # a direction of layer 1's output that layer 2 maps to 0
    extra = [mats[0] + np.outer(np.ones(6), unseen), *mats[1:]]  # layer 1 of rank 3, the same product
    np.testing.assert_allclose(linear_product(extra), linear_product(mats), atol=1e-5)
    cases = {
        "deepest stratum": dict(weights=extra),
        "identity": dict(activation="relu"),
        "biases": dict(bias=True),
        "squared loss": dict(loss="student_t"),
        "nonlinear teacher": dict(teacher_rank=-1),
        "unrealisable": dict(teacher_rank=5),
        "rank-deficient": dict(x=np.hstack([x[:, :5], x[:, :1]])),
        "noisy outputs": dict(noise_var=0.01),
    }
    for words, change in cases.items():
        args = {"weights": mats, "x": x, "activation": "identity", "bias": False, "loss": "mse", "teacher_rank": 2, **change}
        out = assess(**args)
        assert words in out["truth_note"] and np.isnan(out["true_llc"]) and np.isnan(out["true_llc_multiplicity"]), words


def test_noisy_outputs_void_the_truth_unless_the_teacher_rank_fills_the_narrowest_width():
    # The theorem's λ is the LLC at a minimum of L_n on the rank-r stratum. Noise-free, the rank-2
    # fit is that minimum: a rank-3 fit gains nothing. With noise, rank 3 fits noise and lowers L_n,
    # so L_n's minimum has a product of rank > 2 and the rank-2 w* is a saddle: no truth there.
    gains = {}
    for noise in (0.0, 0.3):
        x, y, teacher, loss = dln_problem(noise=noise)
        fits = {r: aligned_dln(loss, SIZES, r, seed=0) for r in (2, 3)}
        gains[noise] = fits[2].final_loss - fits[3].final_loss
        noise_var = float(np.var(y - x @ linear_product(weight_matrices(teacher, SIZES, False))))
        out = assess(weight_matrices(fits[2].w_star, SIZES, False), x, "identity", False, "mse", 2, noise_var=noise_var)
        assert out["layer_ranks"] == [2, 2, 2] and out["product_rank"] == 2  # on the stratum's ranks either way
        if noise:
            assert (
                out["truth_note"].startswith("noisy outputs (noise variance 0.0892)")
                and "teacher rank 2 below the narrowest width 4" in out["truth_note"]
            )
            assert np.isnan(out["true_llc"]) and np.isnan(out["true_llc_multiplicity"])
        else:
            assert noise_var == 0 and out["truth_note"] == "ok" and out["true_llc"] == dln_learning_coefficient(SIZES, 2)[0]
    assert abs(gains[0.0]) < 1e-6 and gains[0.3] > 1e-3  # about σ² × (the 8 more parameters of rank 3) / n
    # a teacher of rank 4, the narrowest width: every map the student reaches has rank ≤ 4, the noise only
    # moves the rank-4 fit among them, and the theorem holds there
    x, y, teacher, loss = dln_problem(noise=0.3, rank=4)
    w_star = aligned_dln(loss, SIZES, 4, seed=0).w_star
    out = assess(weight_matrices(w_star, SIZES, False), x, "identity", False, "mse", 4, noise_var=0.09)
    assert out["truth_note"] == "ok" and (out["true_llc"], out["true_llc_multiplicity"]) == dln_learning_coefficient(SIZES, 4)


def test_the_erm_stage_judges_the_truth_by_the_noise_the_data_hold(tmp_path):
    from llcbench import files
    from llcbench.plan import build_plan
    from llcbench.stages.data import make_data
    from llcbench.stages.erm import train_erm

    base = {
        "data": {"n": 128, "in_dim": 4, "out_dim": 3, "teacher": {"depth": 1, "widths": [4], "activation": "identity", "rank": 1}},
        "model": {"depth": 1, "widths": [2], "activation": "identity", "bias": False},
        "training": {"method": "aligned"},
        "run_samplers": ["hmc"],
    }
    notes = {}
    for sd in (0.0, 0.1):
        plan = build_plan(resolve_experiments({"base": {**base, "data": {**base["data"], "noise_sd": sd}}}))
        data, erm = tmp_path / f"data{sd}.nc", tmp_path / f"erm{sd}.nc"
        make_data(next(iter(plan.data.values())), str(data))
        train_erm(next(iter(plan.erm.values())), str(data), str(erm))
        a = files.open_dataset(str(erm)).attrs
        notes[sd] = a["truth_note"]
        assert np.isnan(a["true_llc"]) if sd else a["true_llc"] == dln_learning_coefficient([4, 2, 3], 1)[0]
    assert notes[0.0] == "ok" and notes[0.1].startswith(
        "noisy outputs (noise variance 0.00949) with teacher rank 1 below the narrowest width 2"
    )


def test_teacher_rank_and_aligned_training_are_checked_in_the_config():
    dln = {
        "data": {"in_dim": 6, "out_dim": 7, "teacher": {"activation": "identity", "rank": 2}},
        "model": {"depth": 2, "widths": [5, 4], "activation": "identity", "bias": False},
        "training": {"method": "aligned"},
    }
    assert resolve_experiments({"base": dln})["default"]["data"]["teacher"]["rank"] == 2
    bad = [
        ({"data": {"teacher": {"activation": "relu"}}}, "data.teacher.rank"),
        ({"data": {"teacher": {"rank": 7}}}, "data.teacher.rank"),
        ({"model": {"bias": True}}, "model.bias"),
        ({"model": {"activation": "tanh"}}, "model.activation"),
        ({"model": {"widths": [5, 1]}}, "model.widths"),
    ]
    for change, key in bad:
        cfg = {"base": dln, "experiments": {"x": change}}
        with pytest.raises(ConfigError, match=key.replace(".", r"\.")) as err:
            resolve_experiments(cfg)
        assert "\n" not in str(err.value) and "allowed" in str(err.value)


def test_sweep_plot_draws_the_analytic_value_over_its_experiment():
    table = pd.DataFrame(
        {
            "experiment": ["dln", "dln", "relu"],
            "sampler": ["hmc", "sgld", "hmc"],
            "llc": [15.8, 16.3, 40.0],
            "llc_se": [0.2, 0.3, 1.0],
            "true_llc": [16.0, 16.0, np.nan],
        }
    )
    fig, ax = plt.subplots()
    plots._llc_panel(ax, table, "experiment", ["hmc", "sgld"])
    marks = [c for c in ax.collections if c.get_label() == "analytic λ"]
    assert len(marks) == 1
    ((start, end),) = [seg[:, 0] for seg in marks[0].get_segments()]
    assert [seg[0, 1] for seg in marks[0].get_segments()] == [16.0] and start < 0 < end < 1  # over "dln" only
    plt.close(fig)
