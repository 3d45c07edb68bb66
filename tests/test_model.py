import jax
import numpy as np
import pytest

from llcbench.model import count_params, init_params, layer_sizes, make_apply, width_for_target


def test_explicit_widths_win_over_target():
    sizes = layer_sizes(32, 1, 2, widths=[10, 20], target_params=10_000)
    assert sizes == [32, 10, 20, 1]
    assert count_params(sizes) == 32 * 10 + 10 + 10 * 20 + 20 + 20 + 1


def test_width_sweep_changes_parameter_count():
    # The original's defect: widths ignored when a target is set.
    counts = {count_params(layer_sizes(32, 1, 2, widths=[w, w], target_params=10_000)) for w in (8, 16, 64)}
    assert len(counts) == 3


@pytest.mark.parametrize("depth,target", [(1, 1000), (2, 1000), (3, 10_000), (4, 50_000)])
def test_target_params_is_closest_equal_width(depth, target):
    h = width_for_target(32, 1, depth, target)
    best = count_params([32] + [h] * depth + [1])
    for other in (h - 1, h + 1):
        assert abs(best - target) <= abs(count_params([32] + [other] * depth + [1]) - target)


def test_default_model_is_about_10k():
    sizes = layer_sizes(32, 1, 3, target_params=10_000)
    assert abs(count_params(sizes) - 10_000) < 300


def test_depth_mismatch_rejected():
    with pytest.raises(ValueError, match="depth"):
        layer_sizes(32, 1, 3, widths=[4, 4])


def test_forward_shapes_and_linear_identity():
    sizes = [3, 4, 2]
    w = init_params(jax.random.key(0), sizes)
    assert w.shape == (count_params(sizes),)
    x = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    out = make_apply(sizes, "identity")(w, x)
    assert out.shape == (5, 2)
    # identity activation = a deep linear network: f(2x) - f(0) = 2 (f(x) - f(0))
    f = make_apply(sizes, "identity")
    zero = f(w, np.zeros_like(x))
    np.testing.assert_allclose(f(w, 2 * x) - zero, 2 * (f(w, x) - zero), rtol=1e-5, atol=1e-5)
