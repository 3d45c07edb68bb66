"""benchmarks/accuracy.py with replicates: each sampler's replicates of a case pooled into one row,
and per sampler the SE calibration ratio pooled over cases (hand-built sweep CSV)."""

import math

import numpy as np
import pandas as pd
import pytest

from conftest import ROOT


@pytest.fixture
def accuracy(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import accuracy

    return accuracy


LLC = {  # case -> sampler -> (λ̂ per replicate, MCSE per replicate, bootstrap SE per replicate)
    "c1": {"hmc": ([15.8, 16.1, 16.4], [0.2, 0.3, 0.25], [0.3, 0.3, 0.3]), "sgld": ([16.5, 17.5, 16.0], [0.5, 0.6, 0.7], [0.6, 0.6, 0.6])},
    "c2": {"hmc": ([30.0, 30.5], [0.4, 0.4], [0.5, 0.5]), "sgld": ([29.0, 31.0], [0.5, 0.5], [1.0, 1.0])},
}


def sweep(status=None):
    rows = []
    for case, samplers in LLC.items():
        for sampler, (llcs, ses, boots) in samplers.items():
            for r, (llc, se, boot) in enumerate(zip(llcs, ses, boots)):
                bad = status and status[:3] == (case, sampler, r)
                rows.append(
                    {
                        "experiment": case,
                        "run_id": f"{sampler}-{case}-{r}",
                        "sampler": sampler,
                        "replicate": r,
                        "llc": llc,
                        "llc_se": se,
                        "llc_se_bootstrap": boot,
                        "nbeta": 2e4,
                        "gamma": 1.0,
                        "d": 80,
                        "data_id": f"d{case}",
                        "erm_id": f"e{case}",
                        "grad_evals_fde": 1000.0 * (r + 1),
                        "sampling_seconds": 1.0,
                        "tuning_seconds": 0.5,
                        "compile_seconds": 0.2,
                        "status": status[3] if bad else "ok",
                        "true_llc": 16.0 if case == "c1" else 30.0,
                        "true_llc_multiplicity": 1,
                        "rel_error": float("nan"),  # recomputed from the pooled λ̂
                    }
                )
    return pd.DataFrame(rows)


def test_replicates_are_pooled_into_one_row_per_case_and_sampler(accuracy):
    rows, verdict = accuracy.tabulate(sweep(), {})
    by = {(r["case"], r["sampler"]): r for r in rows}
    assert len(rows) == 4
    sgld = by["c1", "sgld"]
    llcs, ses, boots = LLC["c1"]["sgld"]
    assert sgld["replicates"] == 3 and sgld["llc"] == pytest.approx(np.mean(llcs))
    assert sgld["llc_se"] == pytest.approx(math.sqrt(sum(max(s, b) ** 2 for s, b in zip(ses, boots))) / 3)  # each run's larger SE
    assert sgld["rel_error"] == pytest.approx(np.mean(llcs) / 16 - 1)
    assert sgld["calibration_mcse"] == pytest.approx(np.std(llcs, ddof=1) / np.mean(ses))
    assert sgld["calibration_bootstrap"] == pytest.approx(np.std(llcs, ddof=1) / np.mean(boots))
    assert sgld["grad_evals_fde"] == pytest.approx(2000.0)  # per run, averaged over the replicates
    assert sgld["rel_diff_hmc"] == pytest.approx(np.mean(llcs) / np.mean(LLC["c1"]["hmc"][0]) - 1)


def test_calibration_is_pooled_over_cases_per_sampler(accuracy):
    _, verdict = accuracy.tabulate(sweep(), {})
    c = verdict["calibration"]["sgld"]

    def pooled(col):
        num = sum((len(v[0]) - 1) * np.var(v[0], ddof=1) for v in (LLC[k]["sgld"] for k in LLC))
        den = sum((len(v[0]) - 1) * np.mean(v[col]) ** 2 for v in (LLC[k]["sgld"] for k in LLC))
        return math.sqrt(num / den)

    assert c["cases"] == 2 and c["replicates"] == [2, 3]
    assert c["mcse"] == pytest.approx(pooled(1)) and c["bootstrap"] == pytest.approx(pooled(2))
    larger = {k: np.maximum(LLC[k]["sgld"][1], LLC[k]["sgld"][2]) for k in LLC}  # the scoreboard's SE per run
    num = sum((len(LLC[k]["sgld"][0]) - 1) * np.var(LLC[k]["sgld"][0], ddof=1) for k in LLC)
    assert c["scoreboard"] == pytest.approx(math.sqrt(num / sum((len(v) - 1) * np.mean(v) ** 2 for v in larger.values())))
    assert c["rel_sampling_error"] == pytest.approx(1 / math.sqrt(2 * (2 + 1)))
    for se in ("mcse", "bootstrap", "scoreboard"):
        assert c[f"{se}_met"] == (0.7 <= c[se] <= 1.4)
    assert verdict["calibration_met"] == all(v["scoreboard_met"] for v in verdict["calibration"].values())


def test_a_case_with_a_flagged_replicate_leaves_the_calibration(accuracy):
    rows, verdict = accuracy.tabulate(sweep(status=("c2", "sgld", 1, "rhat 1.200 > 1.05")), {})
    assert {r["status"] for r in rows if r["case"] == "c2" and r["sampler"] == "sgld"} == {"1/2: rhat 1.200 > 1.05"}
    c = verdict["calibration"]["sgld"]
    llcs, ses, boots = LLC["c1"]["sgld"]
    assert c["cases"] == 1 and c["mcse"] == pytest.approx(np.std(llcs, ddof=1) / np.mean(ses))
