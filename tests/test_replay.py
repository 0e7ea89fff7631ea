"""Replay: `--simulate` on a session made here (real interpreter trials and real failures),
a real replay on the CPU, and the judging rules (tolerance, device, recorded failures)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from workbench.cli import main
from workbench.core.config import short_config
from workbench.core.gpus import find_gpu
from workbench.core.problem import parse_problem
from workbench.core.records import TrialResult
from workbench.kernel.kernelfile import KernelFile
from workbench.runner.local import run_trial
from workbench.session.replay import judge_run, select_trials
from workbench.session.store import Session, append_trial

GPU = find_gpu("4090")
TINY = parse_problem("N=2,Ci=3,Co=5,D=5,H=6,W=7,k=3,bias=1")
GOOD = {"BLOCK_M": 32, "BLOCK_N": 16, "BLOCK_K": 16, "num_warps": 2, "num_stages": 1,
        "precision": "tf32x3"}  # fmt: skip
# 112 KB of shared memory (Triton 3.6 and 3.9) against the 4090's 99 KB, in a tile that compiles
# in 5 s cold here (the 128x128x64 ieee tile it replaces: ~110 s on a cold cache)
TOO_BIG = {**GOOD, "BLOCK_M": 32, "BLOCK_N": 32, "BLOCK_K": 64, "num_warps": 4, "num_stages": 8}
INVALID = {**GOOD, "BLOCK_M": 48}


@pytest.fixture(scope="module")
def recorded(tmp_path_factory, bench_cache) -> Path:
    """A session recorded on this CPU: one correct interpreter trial and two real failures."""
    path = tmp_path_factory.mktemp("replay") / "tiny-4090.json"
    kf = KernelFile.load()
    for config in (GOOD, TOO_BIG, INVALID):
        result = run_trial(kf, TINY, config, gpu=GPU, mode="interpreter", timeout_s=120)
        append_trial(path, kf, TINY, GPU, result)  # what the target refuses shows in the result
    statuses = [t.status for t in Session.load(path, readonly=True).trials]
    assert statuses == ["ok", "out_of_resources", "invalid_config"], statuses
    return path


def _json_run(capsys, argv: list[str]) -> tuple[int, dict]:
    capsys.readouterr()
    code = main(argv)
    return code, json.loads(capsys.readouterr().out)


def test_simulate_passes_on_the_cpu(recorded, capsys):
    code, report = _json_run(capsys, ["replay", str(recorded), "--simulate", "--json"])
    assert code == 0, report
    verdicts = [t["verdict"] for t in report["trials"]]
    assert verdicts == ["ok", "failed as recorded", "failed as recorded"]
    first = report["trials"][0]
    assert first["compile"]["resources"]["registers"] == first["recorded"]["resources"]["registers"]
    assert first["now"]["correct"] is True and first["now"]["mode"] == "interpreter"
    # The table form says the same, and marks recorded failures as such.
    assert main(["replay", str(recorded), "--simulate"]) == 0
    out = capsys.readouterr().out
    assert "failed as recorded" in out and "all 3 trial(s) as recorded" in out


def test_simulate_flags_resources_that_differ(recorded, tmp_path, capsys):
    data = json.loads(recorded.read_text())
    data["trials"][0]["inspect"]["resources"]["registers"] -= 8
    changed = tmp_path / "changed.json"
    changed.write_text(json.dumps(data, indent=2))
    code, report = _json_run(
        capsys, ["replay", str(changed), "--simulate", "--trials", "1", "--json"]
    )
    assert code == 1
    assert report["trials"][0]["verdict"] == "resources differ"
    assert "registers" in report["trials"][0]["detail"]


def test_simulate_reports_resources_from_another_triton(recorded, tmp_path, capsys):
    """Recorded by another Triton (the H100's 3.6): a difference is reported, not a regression."""
    data = json.loads(recorded.read_text())
    res = data["trials"][0]["inspect"]["resources"]
    res["registers"] -= 8
    res["source"] = "compiled for sm_89 by Triton 0.0.1"
    res.pop("triton_version", None)
    other = tmp_path / "other-triton.json"
    other.write_text(json.dumps(data, indent=2))
    code, report = _json_run(
        capsys, ["replay", str(other), "--simulate", "--trials", "1", "--json"]
    )
    assert code == 0, report
    assert report["trials"][0]["verdict"] == "ok (other Triton)"
    detail = report["trials"][0]["detail"]
    # Said plainly: the resources moved with the Triton version, and by how much.
    assert "resources moved with the Triton version (Triton 0.0.1 -> Triton" in detail
    assert "registers" in detail and "(+8)" in detail


def test_simulate_reads_the_recorded_triton_version_field(recorded, tmp_path, capsys):
    data = json.loads(recorded.read_text())
    res = data["trials"][0]["inspect"]["resources"]
    assert res["triton_version"]  # new sessions record which Triton compiled them
    res["registers"] -= 8
    res["triton_version"] = "0.0.2"
    other = tmp_path / "other-field.json"
    other.write_text(json.dumps(data, indent=2))
    code, report = _json_run(
        capsys, ["replay", str(other), "--simulate", "--trials", "1", "--json"]
    )
    assert code == 0, report
    assert report["trials"][0]["verdict"] == "ok (other Triton)"
    assert "Triton 0.0.2" in report["trials"][0]["detail"]


def test_simulate_catches_a_wrong_recorded_kernel(recorded, tmp_path, capsys):
    """The kernel file is gone, so the recorded source runs; here it was made wrong."""
    data = json.loads(recorded.read_text())
    data["kernel"]["path"] = str(tmp_path / "gone.py")
    data["kernel"]["source"] = data["kernel"]["source"].replace(
        "    return y\n", "    return y * 1.01\n"
    )
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(data, indent=2))
    code, report = _json_run(
        capsys, ["replay", str(broken), "--simulate", "--trials", "1", "--json"]
    )
    assert code == 1
    assert report["trials"][0]["verdict"] == "wrong result"
    assert "not on this machine" in report["kernel_warning"]


def test_real_replay_on_the_cpu(recorded, capsys):
    code, report = _json_run(capsys, ["replay", str(recorded), "--json", "--timeout", "120"])
    assert code == 0, report
    verdicts = [t["verdict"] for t in report["trials"]]
    assert verdicts == ["correct", "failed as recorded", "failed as recorded"]
    assert report["trials"][0]["now"]["mode"] == "interpreter"


def test_bad_selections_and_files_exit_2(recorded, tmp_path, capsys):
    assert main(["replay", str(recorded), "--trials", "best"]) == 2  # no GPU-timed trial
    assert "no correct trial timed on a GPU" in capsys.readouterr().err
    assert main(["replay", str(recorded), "--trials", "7"]) == 2
    assert "has no trial 7" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema": "conv3d-bench/session/2",')
    assert main(["replay", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "left untouched" in err and "\n" not in err
    with Session.load(recorded, readonly=True) as s:
        assert [t.id for t in select_trials(s, "1,3")] == [1, 3]
        assert [t.id for t in select_trials(s, "2-3")] == [2, 3]


# --- the judging rules --------------------------------------------------------------------------
def _gpu(median, status="ok", passed=True, device="NVIDIA H100 80GB HBM3", cc="9.0") -> TrialResult:
    return TrialResult.from_json({
        "status": status,
        "mode": "gpu",
        "device": device,
        "device_fingerprint": {"name": device, "cc": cc},
        "correctness": {"kernelbench_pass": passed, "rel_error": 1e-7},
        "timing": {"median_ms": median},
    })  # fmt: skip


@pytest.mark.parametrize(
    ("before", "now", "verdict", "regression"),
    [
        (_gpu(1.0), _gpu(1.05), "ok", False),
        (_gpu(1.0), _gpu(1.2), "slower", True),
        (_gpu(1.0), _gpu(0.5), "faster", False),
        (_gpu(1.0), _gpu(1.5, device="NVIDIA GeForce RTX 4090", cc="8.9"), "other device", False),
        (_gpu(1.0), _gpu(1.0, status="wrong_result", passed=False), "wrong result", True),
        (_gpu(1.0), _gpu(None, status="runtime_fault"), "now fails: runtime_fault", True),
        (_gpu(None, status="timeout"), _gpu(None, status="timeout"), "failed as recorded", False),
        (_gpu(None, status="timeout"), _gpu(None, status="runtime_fault"), "still fails", False),
        (_gpu(1.0, status="wrong_result", passed=False), _gpu(1.0), "now passes", False),
    ],
)
def test_judging(before, now, verdict, regression):
    outcome = judge_run(before, now, tolerance=10.0)
    assert (outcome.verdict, outcome.regression) == (verdict, regression)


def test_short_config():
    assert short_config(GOOD) == "32x16x16 w2 s1 tf32x3"
    assert short_config({"TILE_P": 64, "num_warps": 4}) == "w4 TILE_P=64"
