"""Ground truth: the analytic learning coefficient of deep linear networks, and the
check that a w* is a point where it applies.

Aoyagi (2024), "Consideration on the learning efficiency of multiple-layered neural
networks with linear units", Neural Networks 172:106132, Theorem 1 (restated as
Theorem B.1 in Furman & Lau 2024, "Estimating the Local Learning Coefficient at
Scale"). For a bias-free network x ↦ x W_1 ⋯ W_L with widths H_0 (input), H_1, …,
H_L (output) and a true product of rank r, let Δ_i = H_i − r and Σ the set of the
ℓ + 1 smallest Δ_i with

    max_{Σ} Δ < min_{∉Σ} Δ,    Σ_Σ Δ ≥ ℓ·max_{Σ} Δ,    Σ_Σ Δ < ℓ·min_{∉Σ} Δ

(conditions on the complement hold vacuously when Σ is everything). With
S = Σ_Σ Δ_i, c = ⌈S/ℓ⌉ and a = S − (c − 1)ℓ ∈ {1, …, ℓ}:

    λ = (r(H_0 + H_L) − r²)/2 + a(ℓ − a)/(4ℓ) − ℓ(ℓ − 1)/4·(S/ℓ)² + ½ Σ_{i<j ∈ Σ} Δ_i Δ_j
    m = a(ℓ − a) + 1

The theorem is the learning coefficient of the true function. It is the LLC at w*
when w* lies in the deepest stratum of the true parameters: every layer of rank
exactly r (aligned, so the product keeps rank r). A w* whose layers have larger rank
(extra directions cancelled downstream) sits where the LLC is larger.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from llcbench.model import linear_product

RANK_RTOL = 1e-3  # singular values below RANK_RTOL × the largest count as zero


def dln_learning_coefficient(widths, rank: int) -> tuple[float, int]:
    """(λ, m) of a bias-free deep linear network with ``widths`` = (H_0, …, H_L)
    (input and output included, L ≥ 1 weight matrices) whose true product has rank
    ``rank`` (0 ≤ rank ≤ min(widths))."""
    h = [int(v) for v in widths]
    r = int(rank)
    if len(h) < 2 or min(h) < 1:
        raise ValueError(f"widths {list(widths)}: need at least input and output, all >= 1")
    if not 0 <= r <= min(h):
        raise ValueError(f"rank {rank}: allowed 0..{min(h)} (the narrowest width)")
    delta = sorted(v - r for v in h)
    for size in range(2, len(delta) + 1):  # |Σ| = ℓ + 1; ℓ = 0 never meets the last condition
        ell, sub, rest = size - 1, delta[:size], delta[size:]
        s = sum(sub)
        if s >= ell * sub[-1] and (not rest or (sub[-1] < rest[0] and s < ell * rest[0])):
            break
    else:  # the theorem proves Σ exists; reaching here is a bug
        raise RuntimeError(f"no admissible subset for widths {h}, rank {r}")
    a = s - (math.ceil(Fraction(s, ell)) - 1) * ell
    pairs = sum(sub[i] * sub[j] for i in range(size) for j in range(i + 1, size))
    lam = (
        Fraction(r * (h[0] + h[-1]) - r * r, 2)
        + Fraction(a * (ell - a), 4 * ell)
        - Fraction(ell * (ell - 1), 4) * Fraction(s, ell) ** 2
        + Fraction(pairs, 2)
    )
    return float(lam), a * (ell - a) + 1


def numerical_rank(m: np.ndarray, rtol: float = RANK_RTOL) -> int:
    """Number of singular values of ``m`` above ``rtol`` × the largest (0 for a zero
    matrix, −1 when ``m`` holds NaN or inf, where the SVD is undefined)."""
    if not np.isfinite(m).all():
        return -1
    s = np.linalg.svd(np.asarray(m, np.float64), compute_uv=False)
    return int(np.sum(s > rtol * s[0])) if s.size and s[0] > 0 else 0


def assess(weights: list[np.ndarray], x: np.ndarray, activation: str, bias: bool, loss: str, teacher_rank: int) -> dict:
    """Whether Aoyagi's theorem gives the LLC at w*, and its value.

    ``weights``: the student's weight matrices W_l (fan_in, fan_out) at w*; ``x``
    (n, in_dim) the inputs; ``loss``: loss.kind; ``teacher_rank``: rank of the
    teacher's product (−1 for a nonlinear teacher). Returns the erm.nc attributes
    ``layer_ranks``, ``product_rank``, ``true_llc`` and ``true_llc_multiplicity``
    (NaN when the theorem does not apply) and ``truth_note`` (``ok`` or the reason)."""
    ranks = [numerical_rank(w) for w in weights]
    product = linear_product(weights)
    out = {
        "layer_ranks": ranks,
        "product_rank": numerical_rank(product) if activation == "identity" else -1,
        "true_llc": float("nan"),
        "true_llc_multiplicity": float("nan"),
    }
    widths = [weights[0].shape[0]] + [w.shape[1] for w in weights]
    r, x_rank = teacher_rank, numerical_rank(x)
    reasons = [
        (min(ranks) < 0 or x_rank < 0, "w* or x is not finite"),
        (activation != "identity", f"student activation {activation} (truth needs identity)"),
        (bias, "student has biases (truth needs model.bias: false)"),
        (loss != "mse", f"loss {loss} (truth needs the squared loss)"),
        (r < 0, "nonlinear teacher (no rank)"),
        (r > min(widths), f"teacher rank {r} exceeds the narrowest student width {min(widths)} (unrealisable)"),
        (x_rank < x.shape[1], "input covariance is rank-deficient"),
        (
            any(k != r for k in ranks) or out["product_rank"] != r,
            f"w* is not in the deepest stratum: layer ranks {ranks}, product rank {out['product_rank']}, teacher rank {r}",
        ),
    ]
    note = next((why for failed, why in reasons if failed), "ok")
    if note == "ok":
        lam, m = dln_learning_coefficient(widths, r)
        out.update(true_llc=lam, true_llc_multiplicity=float(m))
    return {**out, "truth_note": note}
