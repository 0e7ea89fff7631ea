"""`conv3d-bench sweep-many`: many kernel files, one session each, a summary, its exit codes, and
a rerun that continues instead of sweeping again (local backend, real sm_89 compiles)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from workbench.cli.main import main

ROOT = Path(__file__).resolve().parents[1]
TINY = "N=1,Ci=2,Co=8,D=4,H=4,W=5,k=3,pad=1"
SMALL = "BLOCK_M=32,64;BLOCK_N=16;BLOCK_K=16;num_warps=2,4;num_stages=1;precision=tf32x3"


def sweep_many(*args: str, cache: Path, cwd: Path) -> tuple[int, dict | None, str]:
    env = {**os.environ, "CONV3D_BENCH_CACHE": str(cache), "COLUMNS": "200"}
    argv = [sys.executable, "-m", "workbench", "sweep-many", *args, "--problem", TINY,
            "--space", SMALL, "--mode", "compile", "--workers", "1", "--json"]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=240, cwd=cwd, env=env)
    return done.returncode, json.loads(done.stdout) if done.stdout.strip() else None, done.stderr


def test_sweep_many_one_session_each_and_a_rerun_continues(
    tmp_path: Path, bench_cache: Path
) -> None:
    kernels = tmp_path / "kernels"
    kernels.mkdir()
    for name in ("a_igemm.py", "b_igemm.py"):
        shutil.copy(ROOT / "kernels" / "conv3d_igemm.py", kernels / name)
    (kernels / "c_broken.py").write_text("def broken(:\n")
    rc, out, err = sweep_many(str(kernels), "--sessions-dir", "s", cache=bench_cache, cwd=tmp_path)
    assert rc == 1, err  # one file had no winner
    assert out is not None and (out["files"], out["ok"], out["failed"]) == (3, 2, 1)
    rows = {Path(r["kernel"]).name: r for r in out["kernels"]}
    assert rows["a_igemm.py"]["status"] == rows["b_igemm.py"]["status"] == "ok"
    assert rows["a_igemm.py"]["shown"].startswith("predicted")  # compile only: never a time
    assert rows["c_broken.py"]["status"] == "error" and "syntax" in rows["c_broken.py"]["message"]
    sessions = sorted(p.name for p in (tmp_path / "s").glob("*.json"))
    assert len(sessions) == 2 and sessions[0].startswith("a_igemm-custom-")
    assert sessions[0].endswith("-4090-sweep.json")
    for name in sessions:
        trials = json.loads((tmp_path / "s" / name).read_text())["trials"]
        assert len(trials) == 4  # the space, once
    # The same command again: the finished sweeps are reported from their sessions, not redone.
    rc, again, err = sweep_many(
        str(kernels), "--sessions-dir", "s", cache=bench_cache, cwd=tmp_path
    )
    assert rc == 1 and again is not None, err
    rows2 = {Path(r["kernel"]).name: r for r in again["kernels"]}
    assert not rows2["a_igemm.py"]["swept"] and rows2["a_igemm.py"]["status"] == "ok"
    assert rows2["a_igemm.py"]["winner"]["config"] == rows["a_igemm.py"]["winner"]["config"]
    assert len(json.loads((tmp_path / "s" / sessions[0]).read_text())["trials"]) == 4
    # A list file of the good ones: every file got a winner.
    listing = tmp_path / "batch.txt"
    listing.write_text("# today's kernels\nkernels/a_igemm.py\n\nkernels/b_igemm.py  # again\n")
    rc, listed, err = sweep_many(
        str(listing), "--sessions-dir", "s", cache=bench_cache, cwd=tmp_path
    )
    assert rc == 0 and listed is not None and listed["ok"] == 2, err


@pytest.mark.parametrize(
    "args,says",
    [
        (["nowhere"], "neither a folder"),
        (["kernels/conv3d_igemm.py"], "is one kernel file"),
        (["@LIST"], "@LIST:2: kernels/missing.py is not a file"),
        (["kernels", "--session", "x.json"], "use --sessions-dir"),
        (["kernels", "extra.py"], "takes one DIR_OR_LIST"),
        (["kernels", "--resume"], "resumes by itself"),
    ],
)
def test_sweep_many_usage_errors_are_one_line(
    args: list[str],
    says: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(ROOT)
    listing = tmp_path / "list.txt"
    listing.write_text(f"{ROOT / 'kernels' / 'conv3d_igemm.py'}\nkernels/missing.py\n")
    args = [str(listing) if a == "@LIST" else a for a in args]
    (tmp_path / "kernels").mkdir()  # the list's folder has no missing.py
    assert main(["sweep-many", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert says.replace("@LIST", str(listing)) in err and "\n" not in err, err


@pytest.mark.parametrize("verb", ["sweep", "sweep-many"])
def test_backend_ray_without_ray_says_how_to_install_it(
    verb: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails as if not installed
    target = ["kernels"] if verb == "sweep-many" else []
    assert main([verb, *target, "--problem", TINY, "--mode", "compile", "--backend", "ray"]) == 2
    err = capsys.readouterr().err.strip()
    assert "pip install -e '.[ray]'" in err and "\n" not in err, err
