"""The bad-input catalogue (issue 11): the real `conv3d-bench`, as a user runs it, given a wrong
config, problem, problem file, GPU, kernel file, session, output path or time limit.

For every case: exit status 2 (a usage error, nothing run or written) or 1 (a trial that ran and
failed), exactly one line on stderr that says what went wrong, no traceback on either stream,
and every file it was given unchanged (sha256 before and after) with nothing new beside them.
Each case gets its own folder of bad files. A case that fails before torch is imported is its own
`conv3d-bench` process; the cases that import torch (the two compiles too) run one after another
through the CLI's entry point `main(argv)` in one process (torch imported once: seconds saved per
case; the workers they start are processes of their own). Signals are in
test_process_hygiene.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from workbench.runner.device import gpu_present
from workbench.session.store import WriterLock

ROOT = Path(__file__).resolve().parents[1]
SESSION = ROOT / "sessions" / "l1-66-h100.json"  # a real recorded session (8 trials)
BUILTIN = ROOT / "kernels" / "conv3d_igemm.py"
COMPILE_ERROR = ROOT / "tests" / "fixtures" / "kernels" / "user_compile_error.py"
TINY = "N=1,Ci=2,Co=8,D=4,H=4,W=5,k=3,pad=1"
GROUPS2 = "N=1,Ci=2,Co=4,D=4,H=4,W=5,k=3,groups=2"
# 2.5e9 blocks of 16 x 16 (small tiles compile in seconds): over CUDA's 2^31-1
HUGE = "N=10,Ci=1,Co=64,D=1000,H=1000,W=1000,k=1"
SMALL_TILES = "BLOCK_M=16,BLOCK_N=16,BLOCK_K=16,num_warps=1,num_stages=1,precision=ieee"
# 112 KB of shared memory (7 buffered stages of 16x128 + 128x16 fp32) against the 4090's 99 KB
# per block; the smallest tile that goes over compiles in half the time of a 32x32 one. The same
# config as test_run.py's out-of-resources trial, so one compile serves both (the bench cache).
SHARED_HOG = "BLOCK_M=16,BLOCK_N=16,BLOCK_K=128,num_stages=8,num_warps=4,precision=tf32"
PARALLEL = 3


@dataclass(frozen=True)
class Case:
    id: str
    argv: tuple[str, ...]  # {w}: the case's folder of bad files; {name}: a measure kernel
    code: int  # 2: usage error; 1: a trial ran and failed
    says: str  # what the one line must say (case-insensitive)
    grouped: bool  # it imports torch: run with the others in one process (see run_grouped)


def case(id: str, code: int, says: str, *argv: str) -> Case:
    """A case run as its own `conv3d-bench` process (it fails before torch is imported)."""
    return Case(id, argv, code, says, grouped=False)


def grouped(id: str, code: int, says: str, *argv: str) -> Case:
    """A case that imports torch: run by `main(argv)` in one process with the other grouped
    cases, so the import is paid once (the workers it starts are processes of their own)."""
    return Case(id, argv, code, says, grouped=True)


CASES = [
    # --- config ---
    case("config-key-twice", 2, "given twice", "inspect", "-c", "BLOCK_M=64,BLOCK_M=128"),
    case("config-no-value", 2, "cannot read 'BLOCK_M'", "bench", "-c", "BLOCK_M"),
    case("config-not-a-number", 2, "whole number", "inspect", "-c", "BLOCK_M=abc"),
    grouped("config-unknown-key", 2, "unknown parameter FOO", "inspect", "-p", TINY, "-c", "FOO=3"),
    grouped("config-not-pow2", 2, "power of two", "inspect", "-p", TINY, "-c", "BLOCK_M=48"),
    grouped("config-bad-warps-bench", 2, "invalid_config: num_warps=3", "bench", "-p", TINY, "-c", "num_warps=3"),
    grouped("config-over-shared-memory", 2, "shared memory", "inspect", "-p", TINY, "-c", SHARED_HOG),
    # --- problem ---
    case("problem-unknown-preset", 2, "unknown problem 'L1/99'", "inspect", "-p", "L1/99"),
    case("problem-bias-maybe", 2, "bias='maybe'", "bench", "-p", TINY + ",bias=maybe"),
    case("problem-key-twice", 2, "given twice", "inspect", "-p", "N=1,N=2,Ci=2,Co=8,D=4,H=4,W=5,k=3"),
    case("problem-lacks-kernel", 2, "lacks kernel", "bench", "-p", "N=1,Ci=2,Co=8,D=4,H=4,W=5"),
    case("problem-zero-batch", 2, "must be >= 1", "inspect", "-p", "N=0,Ci=2,Co=8,D=4,H=4,W=5,k=3"),
    case("problem-groups", 2, "divisible by groups", "inspect", "-p", "N=1,Ci=3,Co=8,D=4,H=4,W=5,k=3,groups=2"),
    case("problem-empty-output", 2, "empty output", "bench", "-p", "N=1,Ci=2,Co=8,D=2,H=2,W=2,k=3"),
    case("problem-dtype", 2, "dtype 'int8'", "inspect", "-p", TINY + ",dtype=int8"),
    grouped("problem-empty", 2, "--problem is empty", "inspect", "-p", ""),
    grouped("problem-grid-over-cuda-limit", 2, "exceeds CUDA's limit", "inspect", "-p", HUGE, "-c", SMALL_TILES),
    # --- problem files ---
    grouped("problem-file-missing", 2, "does not exist", "inspect", "-p", "{w}/nothere.py"),
    grouped("problem-file-directory", 2, "is a directory", "bench", "-p", "{w}/dir"),
    grouped("problem-file-no-model", 2, "no class Model", "inspect", "-p", "{w}/no_model.py"),
    # --- GPU ---
    case("gpu-empty", 2, "--gpu is empty", "inspect", "--gpu", ""),
    case("gpu-unknown", 2, "unknown GPU 'rtx9999'", "bench", "--gpu", "rtx9999"),
    case("gpu-unknown-limits", 2, "unknown GPU", "limits", "--gpu", "nope"),
    case("mode-unknown", 2, "invalid choice: 'fast'", "bench", "--mode", "fast"),
    # --- kernel files ---
    grouped("kernel-directory", 2, "is a directory", "inspect", "{w}/dir"),
    grouped("kernel-missing", 2, "does not exist", "bench", "{w}/nothere.py"),
    grouped("kernel-no-modelnew", 2, "no class ModelNew", "inspect", "{w}/no_modelnew.py"),
    grouped("kernel-syntax-error", 2, "syntax error", "inspect", "{w}/syntax.py"),
    grouped("kernel-no-jit", 2, "no @triton.jit", "bench", "{w}/no_jit.py"),
    grouped("kernel-not-utf8", 2, "not UTF-8", "inspect", "{w}/latin1.py"),
    grouped("kernel-does-not-compile", 2, "user_compile_error.py:15", "inspect", str(COMPILE_ERROR), "-p", TINY),
    grouped("kernel-user-assert-inspect", 2, "copy_ok supports groups=1 only", "inspect", "{user_assert}", "-p", GROUPS2),
    grouped("kernel-user-assert-bench", 1, "copy_ok supports groups=1 only", "bench", "{user_assert}", "-p", GROUPS2),
    grouped("kernel-host-hang-inspect", 2, "no result within 3 s", "inspect", "{host_hang}", "-p", TINY, "--timeout", "3"),
    grouped("kernel-host-hang-export", 2, "no result within 3 s", "export", "{host_hang}", "-p", TINY, "--timeout", "3", "-o", "{w}/out.py"),
    grouped("kernel-faults", 1, "runtime_fault", "bench", "{oob}", "-p", TINY),
    # --- sessions ---
    grouped("session-corrupt-replay", 2, "not a conv3d-bench session", "replay", "{w}/corrupt.json"),
    grouped("session-corrupt-bench", 2, "not a conv3d-bench session", "bench", "-p", TINY, "--session", "{w}/corrupt.json"),
    grouped("session-corrupt-export", 2, "not a conv3d-bench session", "export", "{w}/corrupt.json", "-o", "{w}/out.py"),
    grouped("session-not-an-object", 2, "top level is a list", "replay", "{w}/list.json"),
    grouped("session-newer-schema", 2, "newer than this conv3d-bench reads", "replay", "{w}/newer.json"),
    grouped("session-missing", 2, "does not exist", "replay", "{w}/nothere.json"),
    grouped("session-directory", 2, "is a directory", "replay", "{w}/dir"),
    grouped("session-no-such-trial", 2, "no trial 99", "replay", "{w}/session.json", "--trials", "99"),
    grouped("session-bad-trials", 2, "--trials 'abc'", "replay", "{w}/session.json", "--trials", "abc"),
    grouped("session-negative-tolerance", 2, "percentage >= 0", "replay", "{w}/session.json", "--tolerance", "-5"),
    grouped("session-other-problem", 2, "session of problem L1/66", "bench", "-p", TINY, "--session", "{w}/session.json"),
    grouped("session-directory-bench", 2, "is a directory", "bench", "-p", TINY, "--session", "{w}/dir"),
    grouped("session-unwritable-folder", 2, "cannot open /proc/s.json", "bench", "-p", TINY, "--session", "/proc/s.json"),
    # --- output paths ---
    grouped("export-over-existing-file", 2, "already exists: pass --force", "export", "{w}/session.json", "-o", "{w}/existing.py"),
    grouped("export-over-a-session", 2, "never writes over a session", "export", "{w}/session.json", "-o", "{w}/other.json"),
    grouped("export-over-a-session-forced", 2, "never writes over a session", "export", "{w}/session.json", "-o", "{w}/session.json", "--force"),
    grouped("export-over-a-session-no-suffix", 2, "is a session file", "export", "{w}/session.json", "-o", "{w}/session_copy", "--force"),
    grouped("export-to-proc", 2, "cannot write /proc/x.py", "export", "{w}/session.json", "-o", "/proc/x.py", "--no-verify"),
    grouped("export-to-a-directory", 2, "is a directory", "export", "{w}/session.json", "-o", "{w}/dir"),
    grouped("export-over-its-kernel", 2, "is the kernel being exported", "export", "{w}/kernel.py", "-p", TINY, "-o", "{w}/kernel.py", "--force"),
    grouped("export-no-such-trial", 2, "no trial 999", "export", "{w}/session.json", "--trial", "999", "-o", "{w}/out.py"),
    grouped("export-autotune-zero", 2, "--autotune 0", "export", "{w}/session.json", "--autotune", "0", "-o", "{w}/out.py"),
    grouped("export-trial-without-session", 2, "--trial needs a session", "export", "-p", TINY, "--trial", "3", "-o", "{w}/out.py"),
    grouped("export-config-with-session", 2, "--config goes with a kernel file", "export", "{w}/session.json", "-c", "BLOCK_M=64", "-o", "{w}/out.py"),
    case("export-no-output", 2, "required: --output/-o", "export", "{w}/session.json"),
    # --- time limits ---
    case("timeout-negative", 2, "-1 must be more than 0 seconds", "inspect", "--timeout", "-1"),
    case("timeout-zero", 2, "0 must be more than 0 seconds", "bench", "--timeout", "0"),
    case("timeout-nan", 2, "nan must be more than 0", "export", "{w}/session.json", "-o", "{w}/out.py", "--timeout", "nan"),
    case("timeout-not-a-number", 2, "'abc' is not a number", "replay", "{w}/session.json", "--timeout", "abc"),
    case("timeout-negative-sweep", 2, "must be more than 0 seconds", "sweep", "--timeout", "-1"),
    # --- files a verb reads ---
    grouped("sweep-calibration-missing", 2, "no such file; give a file from `calibrate`", "sweep", "--mode", "compile", "--calibration", "{w}/nothere.json", "-s", "{w}/cal.json"),
    grouped("sweep-calibration-not-one", 2, "not a calibration of this model version", "sweep", "--mode", "compile", "--calibration", "{w}/session.json", "-s", "{w}/cal.json"),
    # --- the command line itself ---
    case("verb-unknown", 2, "invalid choice: 'frobnicate'", "frobnicate"),
    case("option-unknown", 2, "unrecognized arguments: --frob", "inspect", "--frob"),
    case("option-without-value", 2, "expected one argument", "bench", "--note"),
    grouped("tui-directory", 2, "is a directory", "tui", "{w}/dir"),
    grouped("tui-missing-file", 2, "does not exist", "tui", "{w}/nothere.py"),
    grouped("tui-gpu-empty", 2, "--gpu is empty", "tui", "--gpu", ""),  # tui imports torch first
]  # fmt: skip


def make_bad_files(folder: Path) -> None:
    """One case's folder: a real session and copies of the bad files a user might give."""
    folder.mkdir(parents=True)
    (folder / "dir").mkdir()
    shutil.copy(SESSION, folder / "session.json")
    shutil.copy(SESSION, folder / "other.json")
    shutil.copy(SESSION, folder / "session_copy")  # a session without the .json suffix
    shutil.copy(BUILTIN, folder / "kernel.py")
    (folder / "existing.py").write_text("# my own work\n", encoding="utf-8")
    (folder / "corrupt.json").write_text(SESSION.read_text()[:5000], encoding="utf-8")
    (folder / "list.json").write_text("[1, 2]\n", encoding="utf-8")
    newer = {**json.loads(SESSION.read_text()), "schema": "conv3d-bench/session/9"}
    (folder / "newer.json").write_text(json.dumps(newer), encoding="utf-8")
    (folder / "no_model.py").write_text("import torch\n\ndef get_inputs():\n    return []\n")
    (folder / "no_modelnew.py").write_text("import torch\n\nclass Model:\n    pass\n")
    (folder / "syntax.py").write_text("class ModelNew(:\n    pass\n")
    (folder / "no_jit.py").write_text(
        "import torch.nn as nn\n\nclass ModelNew(nn.Module):\n    pass\n"
    )
    (folder / "latin1.py").write_bytes("# r\xe9glage\nclass ModelNew: pass\n".encode("latin-1"))


def snapshot(folder: Path, extra: list[Path]) -> dict[str, str]:
    """Name -> sha256 of every file in the case's folder and of every other file it was given."""
    files = [p for p in folder.rglob("*") if p.is_file()] + [p for p in extra if p.is_file()]
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


@dataclass
class Outcome:
    returncode: int
    stdout: str
    stderr: str
    before: dict[str, str]
    after: dict[str, str]
    wall_s: float


def cli_env(cache: Path) -> dict[str, str]:
    env = {**os.environ, "CONV3D_BENCH_CACHE": str(cache), "COLUMNS": "100"}
    env.pop("TRITON_INTERPRET", None)
    return env


def prepare(c: Case, folder: Path, kernels: dict[str, Path], make: bool = True) -> list[str]:
    """The case's folder of bad files; returns its argv."""
    if make:
        make_bad_files(folder)
    names = {"w": str(folder), **{k: str(v) for k, v in kernels.items()}}
    return [a.format(**names) for a in c.argv]


def given_files(argv: list[str], folder: Path) -> list[Path]:
    return [Path(a) for a in argv if os.path.isabs(a) and not a.startswith(str(folder))]


def run_case(
    c: Case, folder: Path, kernels: dict[str, Path], cache: Path, make: bool = True
) -> Outcome:
    """One case as its own `conv3d-bench` process."""
    argv = prepare(c, folder, kernels, make)
    before = snapshot(folder, given_files(argv, folder))
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "workbench", *argv],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=ROOT,
        env=cli_env(cache),
        stdin=subprocess.DEVNULL,
    )
    wall = time.monotonic() - started
    after = snapshot(folder, given_files(argv, folder))
    return Outcome(proc.returncode, proc.stdout, proc.stderr, before, after, wall)


# Runs the grouped cases one after another through the CLI's own entry point, main(argv), each
# with its own stdout and stderr, in one process (torch imported once); argparse's exit is a code.
# A worker a case starts is its own process, ended with the case (time limit, crash).
GROUP_DRIVER = r"""
import contextlib, io, json, sys, time
from workbench.cli.main import main
import workbench.kernel.kernelfile  # noqa: F401 - torch and Triton, before the first case

results = {}
for cid, argv in json.loads(sys.stdin.read()):
    out, err = io.StringIO(), io.StringIO()
    started = time.monotonic()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exit:
            code = exit.code if isinstance(exit.code, int) else 1
    results[cid] = [code, out.getvalue(), err.getvalue(), time.monotonic() - started]
print("RESULTS " + json.dumps(results))
"""


def run_grouped(
    cases: list[Case], base: Path, kernels: dict[str, Path], cache: Path
) -> dict[str, Outcome]:
    """The grouped cases in one process: each still has its own folder, snapshot and streams."""
    argvs = {c.id: prepare(c, base / c.id, kernels) for c in cases}
    before = {cid: snapshot(base / cid, given_files(a, base / cid)) for cid, a in argvs.items()}
    proc = subprocess.run(
        [sys.executable, "-c", GROUP_DRIVER],
        input=json.dumps(list(argvs.items())),
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
        env=cli_env(cache),
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULTS ")]
    assert proc.returncode == 0 and lines, f"the grouped cases failed to run: {proc.stderr[-3000:]}"
    results = json.loads(lines[-1][len("RESULTS ") :])
    outcomes = {}
    for cid, argv in argvs.items():
        code, out, err, wall = results[cid]
        after = snapshot(base / cid, given_files(argv, base / cid))
        outcomes[cid] = Outcome(code, out, err, before[cid], after, wall)
    return outcomes


@pytest.fixture(scope="module")
def outcomes(
    tmp_path_factory: pytest.TempPathFactory, measure_kernels: dict[str, Path], bench_cache: Path
) -> dict[str, Outcome]:
    """Every case: the grouped ones in one process, beside the others run a few at a time."""
    base = tmp_path_factory.mktemp("bad-inputs")
    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        group = pool.submit(
            run_grouped, [c for c in CASES if c.grouped], base, measure_kernels, bench_cache
        )
        futures = {
            c.id: pool.submit(run_case, c, base / c.id, measure_kernels, bench_cache)
            for c in CASES
            if not c.grouped
        }
        return {**group.result(), **{cid: f.result() for cid, f in futures.items()}}


def check_clean(out: Outcome, code: int, says: str) -> None:
    """The catalogue's promise for one bad input."""
    lines = out.stderr.strip().splitlines()
    assert out.returncode == code, f"exit {out.returncode}, expected {code}; stderr: {out.stderr}"
    assert len(lines) == 1, f"stderr is not one line: {out.stderr!r}"
    assert lines[0].startswith("error: "), lines[0]
    assert says.lower() in lines[0].lower(), f"{says!r} not in {lines[0]!r}"
    for stream in (out.stdout, out.stderr):
        assert "Traceback" not in stream, stream[-2000:]
    assert out.after == out.before, "a file it was given changed, or a new one appeared"


@pytest.mark.parametrize("c", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_clean_line(c: Case, outcomes: dict[str, Outcome]) -> None:
    check_clean(outcomes[c.id], c.code, c.says)


@pytest.mark.parametrize(
    "argv",
    [
        ["bench", "--gpu", "nope"],
        ["inspect", "-p", TINY + ",bias=maybe"],
        ["bench", "-c", "BLOCK_M=64,BLOCK_M=128"],
        ["sweep", "-p", "L1/99"],
    ],
)
def test_plain_typos_fail_before_torch_is_imported(argv: list[str]) -> None:
    """A value that needs no torch (GPU name, problem spec, config) is checked before a verb
    imports torch and Triton (seconds here): the error comes at once."""
    code = (
        "import json, sys\nfrom workbench.cli.main import main\n"
        f"rc = main({argv!r})\nprint(json.dumps([rc, 'torch' in sys.modules]))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == [2, False], proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


@pytest.mark.skipif(gpu_present(), reason="there is a GPU here")
def test_mode_gpu_without_a_gpu_is_a_usage_error(tmp_path: Path, bench_cache: Path) -> None:
    out = run_case(
        case("mode-gpu", 2, "", "bench", "--mode", "gpu"), tmp_path / "w", {}, bench_cache
    )
    check_clean(out, 2, "--mode gpu needs a CUDA GPU")


def test_locked_session_is_refused_before_the_trial(
    tmp_path: Path, measure_kernels: dict[str, Path], bench_cache: Path, monkeypatch
) -> None:
    """`bench --session S` while another writer holds S: refused at once, the (endless) trial
    never started, S untouched."""
    folder = tmp_path / "w"
    pid_file = tmp_path / "trial-started"
    monkeypatch.setenv("CONV3D_TEST_PID_FILE", str(pid_file))  # the hang kernel writes it
    lock = WriterLock(folder / "session.json")
    c = case("session-locked", 2, "", "bench", "{hang}", "-p", "L1/66", "--session",
             "{w}/session.json", "--timeout", "120")  # fmt: skip

    make_bad_files(folder)
    lock.acquire("the test's lock")  # its lock file is in the snapshot, and must stay as it is
    try:
        out = run_case(c, folder, measure_kernels, bench_cache, make=False)
    finally:
        lock.release()
    check_clean(out, 2, "is open for writing by another conv3d-bench")
    assert not pid_file.exists(), "the trial ran before the lock was taken"
    assert out.stdout == ""
