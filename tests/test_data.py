import copy

import numpy as np
import pytest

from llcbench.data import NOISES, X_DISTS, make_dataset, sample_inputs, sample_noise
from llcbench.config import resolve_experiments

import jax

BASE = resolve_experiments({})["default"]["data"]
N = 20_000
# Sample moments of N = 20k draws: the sd of a sample variance of a unit Gaussian is
# sqrt(2/N) ~ 0.01, so 0.05 absolute tolerances are > 4 sd; heavy tails get wider bounds.


def settings(**kw):
    s = copy.deepcopy(BASE)
    s.update(kw)
    return s


@pytest.mark.parametrize("x_dist", X_DISTS)
def test_every_input_distribution_has_documented_shape(x_dist):
    ds = make_dataset(0, settings(x_dist=x_dist, n=64, in_dim=5, out_dim=2))
    assert ds.x.shape == (64, 5)
    assert ds.y.shape == ds.y_clean.shape == (64, 2)
    assert np.all(np.isfinite(ds.y))


def test_isotropic_moments():
    x = np.asarray(sample_inputs(jax.random.key(1), settings(x_dist="isotropic", in_dim=4), N))
    np.testing.assert_allclose(x.mean(0), 0, atol=0.05)
    np.testing.assert_allclose(np.cov(x.T), np.eye(4), atol=0.05)


def test_anisotropic_sd_spans_the_ratio():
    x = np.asarray(sample_inputs(jax.random.key(1), settings(x_dist="anisotropic", in_dim=3, anisotropy=100.0), N))
    np.testing.assert_allclose(x.std(0), [1.0, 0.1, 0.01], rtol=0.05)


def test_mixture_has_extra_variance_from_centres():
    x = np.asarray(sample_inputs(jax.random.key(1), settings(x_dist="mixture", in_dim=3, mixture_components=4, mixture_spread=2.0), N))
    # within-component variance is 1; four random centres with sd 2 add spread
    assert x.var(0).mean() > 1.5


def test_low_dim_inputs_have_low_rank():
    x = np.asarray(sample_inputs(jax.random.key(1), settings(x_dist="low_dim", in_dim=10, manifold_dim=3, manifold_noise=0.0), 500))
    assert np.linalg.matrix_rank(x, tol=1e-4) == 3


def test_heavy_tailed_variance_is_student_t():
    # t(5) has variance 5/3; kurtosis makes the sample variance noisier, hence 10%.
    x = np.asarray(sample_inputs(jax.random.key(1), settings(x_dist="heavy_tailed", in_dim=2, x_df=5.0), 200_000))
    np.testing.assert_allclose(x.var(0), 5 / 3, rtol=0.1)


@pytest.mark.parametrize(
    "noise,expected_var",
    [
        ("gaussian", 0.25),
        # sd = 0.5 (1 + |x0|): E[(1 + |z|)^2] = 2 + 2 sqrt(2/pi)
        ("heteroscedastic", 0.25 * (2 + 2 * np.sqrt(2 / np.pi))),
        # t(5) scaled by 0.5: 0.25 * 5/3
        ("student_t", 0.25 * 5 / 3),
        # 10% of rows with sd 3, the rest sd 0.5
        ("outliers", 0.9 * 0.25 + 0.1 * 9.0),
    ],
)
def test_noise_model_variance(noise, expected_var):
    s = settings(noise=noise, noise_sd=0.5, noise_df=5.0, outlier_fraction=0.1, outlier_sd=3.0, in_dim=2)
    x = np.asarray(sample_inputs(jax.random.key(2), s, 100_000))
    eps = np.asarray(sample_noise(jax.random.key(3), s, x, (100_000, 1)))
    assert abs(eps.mean()) < 0.03
    np.testing.assert_allclose(eps.var(), expected_var, rtol=0.06)


def test_all_noise_models_listed():
    assert set(NOISES) == {"gaussian", "heteroscedastic", "student_t", "outliers"}


def test_same_seed_same_data_different_seed_different():
    a, b, c = (make_dataset(s, settings(n=32)) for s in (0, 0, 1))
    np.testing.assert_array_equal(a.y, b.y)
    assert not np.allclose(a.y, c.y)
