"""bench/model_validation.py on synthetic measurements: the split, the statistics, and a validation
that passes a model that is right and fails one that is not."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import pytest
from model_data import TRUE, counts, hgmma, report, trial

from workbench.analysis.calibrate import measurement
from workbench.analysis.model import DEFAULTS, Calibration
from workbench.core.gpus import find_gpu
from workbench.core.problem import parse_problem

ROOT = Path(__file__).resolve().parents[1]
H200 = find_gpu("h200")


def _module():
    spec = importlib.util.spec_from_file_location(
        "model_validation", ROOT / "bench" / "model_validation.py"
    )
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


mv = _module()


def test_spearman_and_ranks():
    assert mv.spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert mv.spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert mv.ranks([5, 1, 5, 2]) == [3.5, 1.0, 3.5, 2.0]
    assert mv.spearman([1, 2], [1, 2]) is None and mv.spearman([1, 1, 1], [1, 2, 3]) is None
    assert mv.spearman([1, 2, 3, 4, 5], [2, 1, 4, 3, 5]) == pytest.approx(0.8)


def _grid(distort=None, repeats=False, constants_of=None):
    """Two kernels x two problems, 8 configs each (tile, warps, stages, registers), timed by
    the model under TRUE (`constants_of`: other constants for a kernel), optionally distorted
    per config."""
    out = []
    i = 0
    for kernel, n_loop in (("kernel_a", 400), ("kernel_b", 900)):
        for problem in (parse_problem("L1/66"), parse_problem("L1/54")):
            for bm in (64, 128):
                for warps, regs in ((4, 96), (8, 168)):
                    for stages in (2, 3):
                        loop = counts(n_loop + 37 * stages, mma_shapes=hgmma(bm, 64, 16, warps, 3),
                                      async_copy_widths={4: 16 + bm // 16})  # fmt: skip
                        rep = report(problem, H200, bm, 64, 16, warps, stages, regs, loop,
                                     precision="tf32x3")  # fmt: skip
                        factor = distort(i) if distort else 1.0
                        k = (constants_of or {}).get(kernel, TRUE)
                        t = trial(problem, rep, k, i, factor=factor)
                        for _ in range(2 if repeats and i % 5 == 0 else 1):
                            out.append(
                                measurement(t, problem, H200, label=f"{kernel} #{i}", kernel=kernel)
                            )
                        i += 1
    return out


def test_split_keeps_each_group_in_both_halves_and_repeats_together():
    ms = _grid(repeats=True)
    fit, test = mv.split_halves(ms)
    assert len(fit) + len(test) == len(ms)
    groups = {mv.group_of(m) for m in ms}
    assert {mv.group_of(m) for m in fit} == groups == {mv.group_of(m) for m in test}
    fit_keys = {mv.config_key(m) for m in fit}
    assert not fit_keys & {mv.config_key(m) for m in test}


def test_a_right_model_meets_the_goals_and_the_outputs_are_written(tmp_path):
    wrong = Calibration(device="NVIDIA H100 80GB HBM3", gpu_key="h100", trials=38,
                        constants={**DEFAULTS, "warp_cpi": 4.0})  # fmt: skip
    result = mv.validate(_grid(), H200, transfer=wrong)
    held = result["held_out"]
    assert held["median_ape_pct"] < 3.0 and held["spearman_min"] >= 0.9
    assert held["verdict"] == {"median_ape": "goal met", "spearman": "goal met"}
    assert len(held["groups"]) == 4 and all(g["trials"] == 4 for g in held["groups"].values())
    carried = result["baselines"][f"{wrong.label}, carried over"]
    assert carried["median_ape_pct"] > 3 * held["median_ape_pct"]
    assert "spec-sheet defaults (uncalibrated)" in result["baselines"]
    assert all(r["reason"] for r in result["worst"])
    json_path, md_path = mv.write_outputs(result, tmp_path)
    assert json.loads(json_path.read_text())["test_trials"] == result["test_trials"]
    md = md_path.read_text()
    assert md.startswith("### Model validation on NVIDIA H200")
    assert "| fitted on half of the NVIDIA H200 trials | the other half |" in md
    assert "| kernel_a on L1/66 |" in md


def test_a_refit_per_kernel_is_a_second_row_beside_the_device_wide_one(tmp_path):
    """kernel_b's configs timed as if its warps issued 3x slower: no one set of constants fits
    both kernels, a refit on each kernel's own half does; the device-wide row stays the first."""
    other = {**TRUE, "warp_cpi": 3 * TRUE["warp_cpi"], "issue_efficiency": 0.3}
    result = mv.validate(_grid(constants_of={"kernel_b": other}), H200, splits=2)
    device_wide = result["held_out"]["median_ape_pct"]
    refits = result["per_group_refit"]
    assert [r["seed"] for r in refits] == [0, 1]
    assert refits[0]["median_ape_pct"] < 3.0 < device_wide
    assert set(refits[0]["groups"]) == set(result["held_out"]["groups"])
    md = mv.markdown(result)
    rows = [line for line in md.splitlines() if line.startswith("| ")]
    assert rows[1].startswith("| fitted on half of the NVIDIA H200 trials | the other half |")
    assert rows[2].startswith("| device-wide fit, then refit per kernel and problem")
    assert "| refit per kernel and problem on its own fit half (mean over the halvings) |" in md


def test_a_wrong_model_fails_the_goals():
    """Measurements the model cannot explain (each config 0.4x-2.5x off, at random): the
    validation says so instead of fitting its way out."""
    rng = [math.exp(0.9 * math.sin(7.3 * i * i + 1.1)) for i in range(64)]
    result = mv.validate(_grid(distort=lambda i: rng[i]), H200)
    held = result["held_out"]
    assert held["median_ape_pct"] > 25.0 and held["verdict"]["median_ape"] == "missed"
    assert held["spearman_min"] < 0.8 and held["verdict"]["spearman"] == "missed"
    worst = result["worst"][0]
    assert abs(worst["error_pct"]) > 50 and "the prediction" in worst["reason"]


def test_ranks_are_over_configs_by_one_clock():
    """A sweep re-times its top configs by KernelBench's protocol (+ the host overhead): the
    rank correlation uses every config's kernel-only time (a repeat's median), so the re-timed
    winners are not ranked as if they were slower."""

    def row(config, kernel_ms, predicted, headline=None):
        return {"group": "k on p", "config": {"BLOCK_M": config},
                "measured_ms": headline or kernel_ms, "predicted_ms": predicted + (0.1 if headline else 0),
                "kernel_only": {"measured_ms": kernel_ms, "predicted_ms": predicted},
                "error_pct": 0.0}  # fmt: skip

    rows = [row(1, 1.00, 1.0), row(1, 1.02, 1.0, headline=1.5), row(2, 1.10, 1.1),
            row(3, 1.20, 1.2), row(4, 1.30, 1.3)]  # fmt: skip
    s = mv.summary(rows)
    g = s["groups"]["k on p"]
    assert g["configs"] == 4 and g["ranked_by"] == "kernel_only"
    assert g["spearman"] == pytest.approx(1.0)
    assert g["spearman_trials_headline"] < 1.0  # the re-timed repeat looks slowest there
    # A model that predicts every config alike does not rank them: 0, not "no data".
    tied = [row(c, 1.0 + c / 10, 1.0) for c in range(4)]
    assert mv.summary(tied)["groups"]["k on p"]["spearman"] == 0.0


def test_the_h200_script_lists_every_committed_h200_session():
    """bench/model_validation_h200.sh --dry-run: the sessions it would validate on, before and
    after a new measurement folder; without --out it says what to do."""
    import subprocess

    script = ROOT / "bench" / "model_validation_h200.sh"
    run = subprocess.run(
        ["bash", str(script), "--dry-run", "--out", "unused"],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    listed = run.stdout.split("\n")
    for path in [
        "docs/measurements/h200-2026-12-01/builtin-l1-66-grid.session.json.gz",
        "docs/measurements/h200-2026-12-01/call2-fast2-l1-54-grid.session.json.gz",
        "docs/measurements/h200-2026-12-02/ray-h200-local.session.json.gz",
        "docs/measurements/h200-2026-12-02/ray-h200-ray.session.json.gz",
        "sessions/l1-59-h200-fast3.json",
    ]:
        assert path in listed and (ROOT / path).is_file()
    sessions = [line for line in listed if line.endswith((".json", ".json.gz"))]
    assert all((ROOT / s).is_file() for s in sessions)  # no unmatched glob left as a name
    assert f"{len(sessions)} sessions" in listed
    bad = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "--out DIR is required" in bad.stderr
