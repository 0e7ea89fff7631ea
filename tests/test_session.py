"""Session files: round trip, atomic saves under SIGKILL, crash records, corrupt and locked files."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from workbench.core.errors import SessionError
from workbench.core.gpus import find_gpu
from workbench.core.jsonio import plain
from workbench.core.problem import parse_problem
from workbench.core.records import TrialResult
from workbench.kernel.kernelfile import KernelFile
from workbench.session.store import SCHEMA, Session, append_trial, read_session_file

GPU = find_gpu("4090")
PROBLEM = parse_problem("L1/66")
CONFIG = {"BLOCK_M": 64, "BLOCK_N": 64, "BLOCK_K": 32, "num_warps": 4, "num_stages": 3}


def result(status="ok", mode="gpu", median=1.0, passed=True, inspect=True) -> TrialResult:
    """A run_trial()-shaped result."""
    return TrialResult.from_json(
        {
            "device": "NVIDIA H100 80GB HBM3" if mode == "gpu" else "Triton interpreter on CPU",
            "device_fingerprint": {"mode": mode, "name": "NVIDIA H100 80GB HBM3", "cc": "9.0"},
            "mode": mode,
            "status": status,
            "message": "" if status == "ok" else f"{status} happened",
            "config": CONFIG,
            "problem": {"spec": PROBLEM.spec(), "label": PROBLEM.label()},
            "inspect": INSPECT if inspect else None,
            "correctness": {"rel_error": 1e-7, "max_abs_error": 2e-6, "kernelbench_pass": passed},
            "timing": {
                "median_ms": median if mode == "gpu" else None,
                "p20_ms": median,
                "p80_ms": median,
                "method": "cuda-graph median",
                "reason": "" if mode == "gpu" else "the interpreter is not timed",
            },
            "kernelbench_timing": {
                "mean_ms": median * 1.1 if mode == "gpu" and median == median else None
            },
            "baseline": {"median_ms": 3.78},
            "kernel_only_speedup": 3.78 / median if median else None,
            "ncu": None,
        }
    )


INSPECT = {
    "target": {"key": "4090", "name": "NVIDIA GeForce RTX 4090", "cc": "8.9", "sm": "sm_89", "sms": 128},
    "config": CONFIG,
    "resources": {"registers": 128, "spill_bytes": 0, "shared_bytes": 32768, "local_bytes": 0},
    "occupancy": {"blocks_per_sm": 2, "limits": {"warps": 12}, "limiters": ["registers"],
                  "active_warps": 8, "max_warps": 48, "fraction": 0.1667, "reason": ""},
    "grid": [1000, 1, 1],
    "grid_blocks": 1000,
    "waves": {"grid_blocks": 1000, "blocks_per_wave": 256, "waves": 3.9, "full_waves": 3,
              "tail_blocks": 232, "tail_fill": 0.9, "efficiency": 0.97},
    "waste": {"m": 0.0, "n": 0.0, "k": 0.01, "total": 0.01},
    "rules": [],
}  # fmt: skip


@pytest.fixture()
def kf() -> KernelFile:
    return KernelFile.load()


def test_round_trip_order_and_best(tmp_path, kf):
    path = tmp_path / "s.json"
    with Session.create(path, kf, PROBLEM, GPU) as s:
        s.record(result(median=2.0), note="first")
        s.record(result(median=0.5, passed=False, status="wrong_result"))
        s.record(result(mode="interpreter", median=0.1))
        s.record(result(median=1.5))
        s.record(result(median=float("nan"), status="runtime_fault", inspect=False))
    text = path.read_text()
    data = json.loads(text)  # strict JSON: NaN was written as a string
    assert text.startswith('{\n  "schema": "conv3d-bench/session/2",')
    assert list(data) == [
        "schema", "created", "updated", "tool", "problem", "target", "kernel", "trials"
    ]  # fmt: skip
    assert data["problem"]["id"] == "L1/66" and data["target"]["key"] == "4090"
    assert data["kernel"]["source"] == kf.source and data["kernel"]["sha256"] == kf.sha256
    assert data["kernel"]["path"] == "kernels/conv3d_igemm.py"
    trial = data["trials"][0]
    assert list(trial)[:6] == ["id", "timestamp", "note", "config", "status", "message"]
    assert trial["timestamp"].endswith("Z") and trial["note"] == "first"
    assert trial["inspect"]["occupancy"]["limiters"] == ["registers"]
    assert "reason" not in trial["inspect"]["occupancy"]  # empty facts are left out
    assert "target" not in trial["inspect"]  # the session's, not kept per trial
    assert "resources" not in trial  # kept once, in the trial's inspect record
    assert data["trials"][4]["timing"]["median_ms"] == "NaN"

    again = Session.load(path, readonly=True)
    assert plain(again.to_json()) == data and again.problem == PROBLEM and again.gpu == GPU
    assert [t.id for t in again.trials] == [1, 2, 3, 4, 5]
    assert again.best().id == 4  # not the wrong one, not the interpreter one
    assert again.previous(before=5).id == 4 and again.previous(before=4).id == 3
    assert again.kernel_file().sha256 == kf.sha256 and again.warning == ""
    # Re-saving without changes is byte-stable apart from the "updated" stamp.
    with Session.load(path) as s:
        s.save()
    assert json.loads(path.read_text())["trials"] == data["trials"]


def test_append_trial_refuses_other_problem_target_or_kernel(tmp_path, kf):
    path = tmp_path / "s.json"
    first = append_trial(path, kf, PROBLEM, GPU, result())
    second = append_trial(path, kf, PROBLEM, GPU, result(), note="n")
    assert (first.id, second.id) == (1, 2)
    with pytest.raises(SessionError, match="problem L1/66, not L1/60"):
        append_trial(path, kf, parse_problem("L1/60"), GPU, result())
    with pytest.raises(SessionError, match="pass --gpu 4090"):
        append_trial(path, kf, PROBLEM, find_gpu("h100"), result())
    other = KernelFile.from_source(kf.source + "\n# edited\n", tmp_path / "mine.py")
    with pytest.raises(SessionError, match="differs"):
        append_trial(path, other, PROBLEM, GPU, result())
    assert len(Session.load(path, readonly=True).trials) == 2
    with pytest.raises(SessionError, match="already exists"):
        Session.create(path, kf, PROBLEM, GPU)


def test_changed_or_missing_kernel_uses_recorded_source(tmp_path, kf):
    user = tmp_path / "user_kernel.py"
    user.write_text(kf.source)
    path = tmp_path / "s.json"
    Session.create(path, KernelFile.load(user), PROBLEM, GPU).close()
    user.write_text(kf.source.replace("BLOCK_M = ", "BLOCK_M =  "))
    s = Session.load(path, readonly=True)
    got = s.kernel_file()
    assert got.source == kf.source and "changed since" in s.warning
    user.unlink()
    got = s.kernel_file()
    assert got.source == kf.source and "not on this machine" in s.warning


def test_worker_crash_mid_trial_is_recorded(tmp_path, kf):
    """A real worker that dies mid-trial: its runtime_fault result still lands in the session."""
    run = pytest.importorskip("workbench.runner.local")
    crashing = tmp_path / "crash.py"
    crashing.write_text(
        kf.source.replace(
            "    def forward(self, x):\n",
            "    def forward(self, x):\n        import os\n\n        os.abort()\n",
        )
    )
    ckf = KernelFile.load(crashing)
    res = run.run_trial(ckf, PROBLEM, {}, gpu=GPU, mode="interpreter", timeout_s=60)
    assert res.status == "runtime_fault", res
    path = tmp_path / "s.json"
    trial = append_trial(path, ckf, PROBLEM, GPU, res, note="crashed")
    loaded = Session.load(path, readonly=True)
    assert [t.to_json() for t in loaded.trials] == [trial.to_json()]
    assert loaded.trials[0].status == "runtime_fault"
    assert loaded.best() is None


# --- SIGKILL during save ------------------------------------------------------------------------
# The child is a real writer (it holds the lock) that saves a ~0.8 MB session over and over.
# It saves two versions, "a" and "b", in turn, and leaves copies of both texts beside the file,
# so the parent can check that after each kill the file is byte for byte one whole save.
_WRITER = textwrap.dedent(
    """
    import copy, sys
    from pathlib import Path
    from workbench.core.jsonio import atomic_write_text, dumps
    from workbench.session.store import Session

    from workbench.core.records import TrialResult

    s = Session.load(sys.argv[1])
    if not s.trials:
        big = {"rel_error": 1e-7, "samples": list(range(400))}
        for _ in range(150):
            s.trials.append(TrialResult.from_json({"id": len(s.trials) + 1, "correctness": big, "note": ""}))
    texts = []
    for version in "ab":
        data = copy.deepcopy(s.to_json())
        for t in data["trials"]:
            t["note"] = version
        texts.append(dumps(data))
        Path(sys.argv[1] + "." + version).write_text(texts[-1])
    s.save()  # the Session's own save path once, then the raw atomic write in a loop
    print("saving", flush=True)
    i = 0
    while True:
        atomic_write_text(s.path, texts[i % 2])
        i += 1
    """
)


@pytest.mark.slow  # 60 SIGKILLs of a writer: ~10 s (`-m slow`, run by CI)
def test_sigkill_during_save_never_breaks_the_file(tmp_path, kf):
    path = tmp_path / "big.json"
    Session.create(path, kf, PROBLEM, GPU).close()
    rng = random.Random(1234)
    kills, torn_temps = 60, 0
    seen = set()
    for _ in range(kills):
        child = subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(path)], stdout=subprocess.PIPE, text=True
        )
        child.stdout.readline()
        time.sleep(rng.uniform(0.0, 0.05))
        child.send_signal(signal.SIGKILL)
        child.wait()
        torn_temps += any(tmp_path.glob(".big.json.*.tmp"))
        _header, trials = read_session_file(path)  # always a whole session
        text = path.read_bytes()
        versions = [v for v in "ab" if text == Path(f"{path}.{v}").read_bytes()]
        # Exactly one whole save, or the Session.save() made just before the loop.
        assert versions or len({t.note for t in trials}) == 1, "torn file"
        seen.update(versions)
        assert len(trials) == 150
    assert seen == {"a", "b"}
    # Killed mid-save (its temporary file left behind) often enough for the test to mean something.
    assert torn_temps >= 3, torn_temps
    # The dead writers' locks vanished with them; their temporary files are cleaned up.
    with Session.load(path) as s:
        assert len(s.trials) == 150
    assert not list(tmp_path.glob(".big.json.*.tmp"))
    print(f"{kills} SIGKILLs, {torn_temps} of them mid-save")


# --- corrupt and locked files -------------------------------------------------------------------
CORRUPT = {
    "truncated": lambda good: good[: len(good) // 2],
    "garbage": lambda good: b"\x00\xffnot json",
    "empty": lambda good: b"",
    "list": lambda good: b"[1, 2]\n",
    "wrong_schema": lambda good: good.replace(SCHEMA.encode(), b"something/else/1"),
    "newer_schema": lambda good: good.replace(SCHEMA.encode(), b"conv3d-bench/session/9"),
    "no_trials": lambda good: json.dumps({"schema": SCHEMA}).encode(),
}


@pytest.mark.parametrize("kind", sorted(CORRUPT))
def test_corrupt_file_one_line_error_and_untouched(tmp_path, kf, kind):
    path = tmp_path / "x.json"
    with Session.create(path, kf, PROBLEM, GPU) as s:
        s.record(result())
    bad = CORRUPT[kind](path.read_bytes())
    path.write_bytes(bad)
    before = os.stat(path)
    for readonly in (True, False):
        with pytest.raises(SessionError) as info:
            Session.load(path, readonly=readonly)
        message = str(info.value)
        assert "\n" not in message
        assert message.startswith(f"{path} is not a conv3d-bench session (")
        assert message.endswith("); it was left untouched")
    with pytest.raises(SessionError):
        append_trial(path, kf, PROBLEM, GPU, result())
    assert path.read_bytes() == bad and os.stat(path).st_mtime_ns == before.st_mtime_ns
    assert not list(tmp_path.glob("*.lock"))  # a refused writer leaves no lock behind


def test_truncated_message_names_the_line(tmp_path, kf):
    path = tmp_path / "x.json"
    Session.create(path, kf, PROBLEM, GPU).close()
    path.write_text('{\n  "schema": "conv3d-bench/session/2",\n  "problem": \n')
    with pytest.raises(SessionError, match=r"\(line 4: Expecting value\)"):
        Session.load(path, readonly=True)


def test_second_writer_is_refused(tmp_path, kf):
    path = tmp_path / "s.json"
    holder = Session.create(path, kf, PROBLEM, GPU)
    with pytest.raises(SessionError) as info:
        Session.load(path)
    assert "is open for writing by another conv3d-bench" in str(info.value)
    assert "\n" not in str(info.value)
    Session.load(path, readonly=True)  # readers are never refused
    holder.close()
    Session.load(path).close()  # released: a writer may open it again


def test_writer_in_another_process_is_named(tmp_path, kf):
    path = tmp_path / "s.json"
    Session.create(path, kf, PROBLEM, GPU).close()
    code = "import sys,time;from workbench.session.store import Session;s=Session.load(sys.argv[1]);print('held',flush=True);time.sleep(60)"
    child = subprocess.Popen([sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE)
    try:
        child.stdout.readline()
        with pytest.raises(SessionError, match=rf"by another conv3d-bench \(pid {child.pid}\)"):
            append_trial(path, kf, PROBLEM, GPU, result())
    finally:
        child.kill()
        child.wait()
    append_trial(path, kf, PROBLEM, GPU, result())  # the dead writer's lock is gone
    assert len(Session.load(path, readonly=True).trials) == 1


def test_save_as_moves_the_lock_and_never_overwrites(tmp_path, kf):
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    s = Session.create(first, kf, PROBLEM, GPU)
    s.record(result())
    s.save_as(first)  # the same file: just a save
    s.save_as(second)
    assert s.path == second and len(Session.load(second, readonly=True).trials) == 1
    Session.load(first).close()  # the old file was released
    with pytest.raises(SessionError, match="is open for writing"):
        Session.load(second)
    with pytest.raises(SessionError, match="already exists"):
        s.save_as(first)
    s.close()
