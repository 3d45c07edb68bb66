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

Noisy outputs move the minimum of L_n off that stratum when the student can represent
more than rank r (r below its narrowest width): the least-squares fit of noisy data has
full rank, and the student fits the noise in the directions beyond r, so L_n's minimum
has a product of rank above r, and a w* of rank r (the aligned fit) is a saddle whose
noise-fitting directions lower nβ·L_n by about β·σ²·(dimensions fitted): λ̂ there is
biased low by design. With r equal to the narrowest width every map the student can
represent has rank ≤ r, noise only moves the rank-r fit within the rank-r maps, and the
theorem's λ still holds at it.
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


def assess(
    weights: list[np.ndarray], x: np.ndarray, activation: str, bias: bool, loss: str, teacher_rank: int, noise_var: float = 0.0
) -> dict:
    """Whether Aoyagi's theorem gives the LLC at w*, and its value.

    ``weights``: the student's weight matrices W_l (fan_in, fan_out) at w*; ``x``
    (n, in_dim) the inputs; ``loss``: loss.kind; ``teacher_rank``: rank of the
    teacher's product (−1 for a nonlinear teacher); ``noise_var``: the variance of the
    output noise the data really hold (data.nc's ``noise_var_realised``; 0 for
    noise-free outputs). Returns the erm.nc attributes
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
            noise_var != 0 and r < min(widths),
            f"noisy outputs (noise variance {noise_var:.3g}) with teacher rank {r} below the narrowest width {min(widths)}: "
            f"L_n's minimum fits the noise beyond rank {r}, off the theorem's stratum (λ̂ biased low; use data.noise_sd: 0)",
        ),
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


LEARNT_FRACTION = 0.5  # a mode counts as learnt once its singular value reaches half the least-squares fit's


def learnt_ranks(products: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """How many modes of the data each linear map in ``products`` (k, in_dim, out_dim) has
    learnt: the number of i with σ_i(Σ^½ P) ≥ ``LEARNT_FRACTION`` · σ_i(Σ^½ P̂), over the modes
    of the least-squares map P̂ = argmin ‖y − xP‖² above ``RANK_RTOL`` × its largest, in the
    metric of the input covariance Σ = xᵀx/n (singular values sorted, so mode i of P is
    compared with mode i of P̂). A deep linear network trained from a small initialisation
    learns the modes one at a time, largest first: on each loss plateau this is the rank of
    the truncation it sits near, whatever tiny directions the initialisation left."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    evals, evecs = np.linalg.eigh(x.T @ x / x.shape[0])
    root = (evecs * np.maximum(evals, 0.0) ** 0.5) @ evecs.T
    target = np.linalg.svd(root @ np.linalg.lstsq(x, y, rcond=None)[0], compute_uv=False)
    target = target[target > RANK_RTOL * target[0]] if target.size and target[0] > 0 else target[:0]
    out = np.full(len(products), -1)
    for i, p in enumerate(products):
        if np.isfinite(p).all():
            s = np.linalg.svd(root @ np.asarray(p, np.float64), compute_uv=False)[: target.size]
            out[i] = int(np.sum(s >= LEARNT_FRACTION * target[: s.size]))
    return out


def rank_reference(widths, ranks, activation: str, bias: bool, loss: str) -> tuple[np.ndarray, np.ndarray, str]:
    """The analytic (λ, m) of a bias-free deep linear network with ``widths`` (H_0, …, H_L)
    whose truth has rank k, for each k in ``ranks`` (NaN where k < 0): the reference for
    λ̂ at a training checkpoint that has learnt k modes. Not a truth there: a loss plateau
    is a saddle, not a minimum. Returns (λ, m, note); all NaN, with the reason in the note,
    unless the student is a deep linear network with the squared loss."""
    ranks = np.asarray(ranks)
    nan = np.full(ranks.shape, np.nan)
    why = next(
        (
            reason
            for failed, reason in (
                (activation != "identity", f"no reference: student activation {activation} (needs identity)"),
                (bias, "no reference: student has biases (needs model.bias: false)"),
                (loss != "mse", f"no reference: loss {loss} (needs the squared loss)"),
            )
            if failed
        ),
        None,
    )
    if why:
        return nan, nan.copy(), why
    values = {k: dln_learning_coefficient(widths, k) for k in set(ranks.tolist()) if k >= 0}
    lam = np.array([values[k][0] if k >= 0 else np.nan for k in ranks.tolist()], float)
    mult = np.array([values[k][1] if k >= 0 else np.nan for k in ranks.tolist()], float)
    return lam, mult, "analytic λ of this deep linear network with a rank-k truth, k = learnt rank (a reference at a saddle, not a truth)"
