"""Calibration: synthetic trials timed by the model under known constants give those constants back;
one device only; the `calibrate` verb end to end on synthetic session files."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
from model_data import DEVICE, TRUE, regimes, session_file, trial

from workbench.analysis.calibrate import calibrate, fit_constants, group_weights, measurement
from workbench.analysis.model import CONSTANTS, DEFAULTS, load_calibration, predict
from workbench.core.errors import CalibrationError, WorkbenchError
from workbench.core.gpus import find_gpu
from workbench.session.measurements import load_measurements

H200 = find_gpu("h200")
ROOT = Path(__file__).resolve().parents[1]


def _measurements(constants=TRUE, device=DEVICE, factor=None):
    out = []
    for i, (name, problem, rep) in enumerate(regimes(H200)):
        t = trial(problem, rep, constants, i, device=device, factor=(factor or {}).get(i, 1.0))
        out.append(measurement(t, problem, H200, label=f"{name} #{i}", kernel="synthetic"))
    return out


def test_fit_recovers_the_constants_the_timings_were_made_with():
    fit = fit_constants(_measurements())
    for name, value in TRUE.items():
        assert fit.constants[name] == pytest.approx(value, rel=0.03), name
        assert abs(fit.constants[name] / DEFAULTS[name] - 1) > 0.05  # moved off the default
        assert fit.uncertainty[name] < 0.1, name  # and the trials pinned it


def test_an_odd_trial_does_not_drag_the_fit():
    # One of the mixtures measured twice as slow as the rest say (not a regime's own trial:
    # each is the lone witness of its constant, and no fit can tell a lone witness from an odd one).
    odd = _measurements(factor={14: 2.0})
    assert odd[14].label.startswith("mixed")
    fit = fit_constants(odd)
    for name, value in TRUE.items():
        assert fit.constants[name] == pytest.approx(value, rel=0.05), name


def test_balanced_groups_weigh_the_same_whatever_their_size():
    """A kernel measured on many configs and one measured on a few whose device acts otherwise
    (a slower warp): weighted per time the big group sets the constant; balanced, the small
    group pulls it as much as the big one."""
    big = _measurements()
    slow = {**TRUE, "warp_cpi": 3 * TRUE["warp_cpi"]}
    small = [m for m in _measurements(slow) if m.label.startswith(("issue_latency", "mixed"))]
    for m in small:
        m.kernel = "other"
    both = big + small
    w = group_weights(both)
    assert len(w) == sum(len(m.times()) for m in both) and w.mean() == pytest.approx(1.0)
    per_group = defaultdict(float)
    for m, weight in zip([x for x in both for _ in x.times()], w):
        per_group[(m.kernel, m.problem)] += weight
    sums = list(per_group.values())
    assert len(sums) > 2 and max(sums) == pytest.approx(min(sums))
    free, start = ["warp_cpi"], dict(TRUE)
    plain = fit_constants(both, free=free, start=start, restarts=0).constants["warp_cpi"]
    balanced = fit_constants(both, free=free, start=start, restarts=0, balance_groups=True)
    assert plain < 1.5 * TRUE["warp_cpi"]  # 13 of 33 trials: the rest hold it near TRUE
    assert 2 * TRUE["warp_cpi"] < balanced.constants["warp_cpi"] < slow["warp_cpi"]


def test_a_constant_no_trial_exercises_stays_put_and_is_reported_unconstrained():
    only_latency = [
        m for m in _measurements() if m.label.startswith(("issue_latency", "mio", "mixed"))
    ]
    cal = calibrate(only_latency, H200, cross_validate=False)
    detail = cal.extra["fit"]["constants"]
    assert not detail["launch_us"]["constrained"]
    assert cal.value("launch_us") == pytest.approx(DEFAULTS["launch_us"], rel=0.05)
    assert detail["warp_cpi"]["constrained"]
    assert cal.value("warp_cpi") == pytest.approx(TRUE["warp_cpi"], rel=0.03)


def test_calibration_reports_a_cross_validated_error_and_round_trips(tmp_path):
    cal = calibrate(_measurements(), H200, sources=["synthetic"])
    assert cal.calibrated and cal.trials == len(regimes(H200)) and cal.gpu_key == "h200"
    assert cal.typical_error_pct is not None and cal.typical_error_pct < 3.0
    assert cal.low_factor <= 1.0 <= cal.high_factor
    assert "cross-validated" in cal.extra["error"]["typical_error_pct"]
    assert len(cal.extra["measurements"]) == cal.trials
    path = tmp_path / "h200.json"
    from workbench.core.jsonio import write_json

    write_json(path, cal)
    back = load_calibration(path)
    assert back is not None and back.constants == cal.constants
    name, problem, rep = regimes(H200)[4]
    p = predict(rep, problem, H200, back)
    assert p.calibration == f"model calibrated on {DEVICE} ({cal.trials} trials)"
    assert p.typical_error_pct == cal.typical_error_pct


def test_trials_of_two_devices_are_refused():
    mixed = _measurements() + _measurements(device="NVIDIA H100 80GB HBM3")[:3]
    with pytest.raises(CalibrationError, match="NVIDIA H100 80GB HBM3 and NVIDIA H200"):
        calibrate(mixed, H200)


def test_too_few_times_are_refused():
    one = _measurements()[:1]
    one[0].kernelbench_ms = None
    with pytest.raises(CalibrationError, match="at least 3"):
        calibrate(one, H200)


# --- the verb, end to end -----------------------------------------------------------------------
def _sessions(tmp_path, device=DEVICE, stem="s"):
    """Synthetic session files, one per problem (a session has one problem)."""
    by_problem = defaultdict(list)
    for i, (_, problem, rep) in enumerate(regimes(H200)):
        by_problem[problem.name or problem.spec()].append(
            (problem, trial(problem, rep, TRUE, i, device=device))
        )
    paths = []
    for k, items in enumerate(by_problem.values()):
        problem = items[0][0]
        paths.append(session_file(tmp_path / f"{stem}{k}.json", problem, [t for _, t in items]))
    return paths


def _cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "workbench", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=300)  # fmt: skip


def test_calibrate_verb_end_to_end(tmp_path):
    paths = _sessions(tmp_path)
    out = tmp_path / "cal.json"
    done = _cli("calibrate", *map(str, paths), "-o", str(out), "--json", "--no-compile", cwd=ROOT)
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    assert printed["path"] == str(out)
    cal = load_calibration(out)
    assert cal is not None and cal.device == DEVICE and cal.gpu_key == "h200"
    for c in CONSTANTS:
        assert cal.value(c.name) == pytest.approx(TRUE[c.name], rel=0.03), c.name
    assert cal.extra["schema"] == "conv3d-bench/calibration/1"
    assert all(str(p) in cal.source for p in paths)  # which sessions it was fitted on
    # Sessions of another device beside them: refused in one line, nothing written.
    other = _sessions(tmp_path, device="NVIDIA H100 80GB HBM3", stem="h100-")
    out2 = tmp_path / "mixed.json"
    done = _cli(
        "calibrate", str(paths[0]), str(other[0]), "-o", str(out2), "--no-compile", cwd=ROOT
    )
    assert done.returncode == 2
    assert done.stderr.startswith("error: the trials were measured on NVIDIA H100 80GB HBM3 and")
    assert len(done.stderr.strip().splitlines()) == 1 and not out2.exists()


def test_a_shipped_session_without_instruction_mix_is_compiled_here(bench_cache):
    """The H100 sessions were recorded by Triton 3.6 without the SASS mix: the loader compiles
    the same config here for sm_90 and says which Triton compiled what."""
    loaded = load_measurements([ROOT / "sessions" / "l1-66-h100-fast2.json"])
    assert len(loaded.measurements) == 2 and not loaded.skipped
    for m in loaded.measurements:
        assert m.features.loop_instructions is not None  # the issue terms are modelled
        assert "compiled for sm_90 by Triton 3.6.0 (recorded)" in m.compiled
        assert "instruction mix: compiled offline for sm_90 by Triton" in m.compiled
    assert any("compiled offline" in line for line in loaded.compiled)
    bare = load_measurements([ROOT / "sessions" / "l1-66-h100-fast2.json"], recompile=False)
    assert all(m.features.loop_instructions is None for m in bare.measurements)


def test_a_gzipped_session_is_read_as_it_is(tmp_path):
    """docs/measurements/ keeps the device's sessions gzipped: they are read without unpacking
    them, labelled by their own path; a damaged one is one line."""
    import gzip

    plain = _sessions(tmp_path)[0]
    packed = tmp_path / "packed.session.json.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    a = load_measurements([plain], recompile=False)
    b = load_measurements([packed], recompile=False)
    assert len(a.measurements) == len(b.measurements) > 0
    assert all(m.label.startswith(f"{packed} #") for m in b.measurements)
    assert [m.kernel_ms for m in a.measurements] == [m.kernel_ms for m in b.measurements]
    assert b.sources == [str(packed)]
    broken = tmp_path / "broken.json.gz"
    broken.write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(WorkbenchError, match="not a readable gzipped session"):
        load_measurements([broken], recompile=False)


def test_recount_shared_replaces_a_recorded_bank_count_with_an_offline_compile(tmp_path):
    """A trial whose compile recorded its shared-memory accesses by an earlier counting rule (the
    H200 sessions of 2026-12-02c: model v5's rule) gets them recounted from an offline compile of
    its recorded source and config here; without recount_shared the record stands. One real
    trial of a committed H200 session, its record replaced by a fake with a known count."""
    import gzip

    from workbench.core.records import SharedAccess

    root = Path(__file__).resolve().parents[1]
    src = root / "docs" / "measurements" / "h200-2026-12-02c" / "fast3e-l1-66.session.json.gz"
    data = json.loads(gzip.decompress(src.read_bytes()))
    timed = [t for t in data["trials"] if t["mode"] == "gpu" and t["status"] == "ok"]
    trial = timed[0]
    fake = SharedAccess(
        op="local_load", kind="read", shape=[128, 32], element="i32",
        shared_layout="swizzled_shared<vec=1, perPhase=1, maxPhase=1, order=[1, 0]>",
        register_layout="blocked<...>", in_loop=True, degree=32.0, wavefronts=10**6,
        ideal_wavefronts=10**6 // 32,
    )  # fmt: skip
    trial["inspect"]["resources"]["shared_accesses"] = [fake.to_json()]
    data["trials"] = [trial]
    path = tmp_path / "one.json"
    path.write_text(json.dumps(data))

    kept = load_measurements([path], recompile=False, offline_shared=True)
    recounted = load_measurements([path], recompile=False, recount_shared=True)
    assert len(kept.measurements) == len(recounted.measurements) == 1
    before = kept.measurements[0].features.conflict_wavefronts
    after = recounted.measurements[0].features.conflict_wavefronts
    assert before is not None and before >= 10**6  # the recorded (fake) count stands
    assert after is not None and after < 10**5, after  # the offline compile's own count
    assert "compiled offline" in recounted.measurements[0].compiled


def test_helper_launches_are_recaptured_from_the_session_source_where_none_were_recorded(tmp_path):
    """The committed H200 sessions' trials (model v6) recorded no helper launches: the loader
    captures them on meta tensors from the session's own source and each trial's config (the x
    split of bf16x3p; none for bf16x3r); a trial that recorded its helpers keeps them."""
    import gzip

    from model_data import helper

    src = ROOT / "docs" / "measurements" / "h200-2026-12-02c" / "fast3e-l1-66.session.json.gz"
    data = json.loads(gzip.decompress(src.read_bytes()))
    timed = [t for t in data["trials"] if t["mode"] == "gpu" and t["status"] == "ok"]
    split = next(t for t in timed if t["config"]["precision"] == "bf16x3p")
    plain = next(t for t in timed if t["config"]["precision"] == "bf16x3r")
    recorded = json.loads(json.dumps(split))
    recorded["id"] = 10**6
    recorded["inspect"]["helpers"] = [helper(1234).to_json()]
    data["trials"] = [split, plain, recorded]
    path = tmp_path / "three.json"
    path.write_text(json.dumps(data))
    loaded = load_measurements([path], recompile=False)
    got = [(m.features.helper_launches, m.features.helper_bytes) for m in loaded.measurements]
    x_bytes = 8 * 3 * 16 * 128 * 128 * (4 + 4)  # L1/66's x read as fp32, its words written
    assert got == [(1, x_bytes), (0, 0.0), (1, 1234.0)]
    assert loaded.measurements[0].facts["helper_launches"] == ["_split_x_kernel"]
    assert any("helper launches" in line and "(2 trials)" in line for line in loaded.compiled)
