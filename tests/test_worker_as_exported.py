"""A GPU trial runs the kernel as KernelBench will: its config baked into the source as export
writes it, nothing forced between the wrapper and the launch (forcing costs host time on every
forward, which KernelBench's timing sees: 0.07-0.1 ms of L1/54's 0.7 ms on the H200)."""

from __future__ import annotations

from pathlib import Path

from workbench.core.problem import parse_problem
from workbench.core.records import TrialResult
from workbench.kernel.kernelfile import KernelFile
from workbench.runner.worker import BatchState, as_exported

ROOT = Path(__file__).resolve().parents[1]
PROBLEM = parse_problem("L1/66")


def _file_of(module: object) -> KernelFile:
    return KernelFile.load(Path(module.__file__))  # type: ignore[attr-defined]


def test_a_config_of_its_own_runs_the_file_as_it_is() -> None:
    kf = KernelFile.load(ROOT / "kernels" / "conv3d_fast3.py")
    out = TrialResult(mode="gpu")
    module, forced = as_exported(kf, PROBLEM, kf.full_config(PROBLEM, {}), BatchState(), out)
    assert forced == {} and "as it is" in out.extra["ran_as"]
    assert _file_of(module).source == kf.source


def test_another_config_is_baked_in_as_export_writes_it() -> None:
    for name, config in (
        ("conv3d_fast3.py", {"BLOCK_K": 16, "num_stages": 2}),  # a config dict the launch reads
        ("conv3d_igemm.py", {"BLOCK_M": 64, "num_warps": 8}),  # constants the launch passes
    ):
        kf = KernelFile.load(ROOT / "kernels" / name)
        full = kf.full_config(PROBLEM, config)
        out = TrialResult(mode="gpu")
        module, forced = as_exported(kf, PROBLEM, full, BatchState(), out)
        assert forced == {}, name
        assert "baked" in out.extra["ran_as"], out.extra
        assert _file_of(module).default_config(PROBLEM) == full, name


def test_a_config_that_cannot_be_baked_is_forced_and_says_so(tmp_path: Path) -> None:
    source = (ROOT / "kernels" / "conv3d_igemm.py").read_text()
    assert "\nBLOCK_M = 128\n" in source
    path = tmp_path / "expression.py"
    path.write_text(source.replace("\nBLOCK_M = 128\n", "\nBLOCK_M = 64 * 2\n"))
    kf = KernelFile.load(path)
    full = kf.full_config(PROBLEM, {"BLOCK_M": 64})
    out = TrialResult(mode="gpu")
    module, forced = as_exported(kf, PROBLEM, full, BatchState(), out)
    assert forced == full, "what cannot be baked is forced at each launch"
    assert "could not be baked" in out.extra["ran_as"] and "may run faster" in out.extra["ran_as"]
    assert _file_of(module).source == kf.source
