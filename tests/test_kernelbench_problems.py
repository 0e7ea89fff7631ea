"""KernelBench's problems as KernelBench's files give them: our 16 fixture problem files (written
from the facts, tests/fixtures/kernelbench/) against the presets, and one-line errors for
problem files that are not KernelBench problems."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from workbench.core import kernelbench
from workbench.core.errors import ProblemError
from workbench.core.problem import PRESETS, _triple
from workbench.kernel.problemfile import REST_OF_MODEL, ProblemFile, load_problem

ROOT = Path(__file__).resolve().parents[1]
KB = ROOT / "tests" / "fixtures" / "kernelbench"
FACTS = {f.id: f for f in kernelbench.FACTS}


def fixture(problem_id: str) -> Path:
    return KB / FACTS[problem_id].file


def _normal(args: list) -> list:
    """nn.Conv3d's eight arguments with every size as a triple (3 and (3, 3, 3) are one conv)."""
    ci, co, k, s, p, d, g, b = args
    return [ci, co, _triple(k, "k"), _triple(s, "s"), _triple(p, "p"), _triple(d, "d"), g, b]


def test_there_is_a_fixture_for_each_of_the_16_problems() -> None:
    assert len(FACTS) == 16
    assert sorted(FACTS) == sorted(PRESETS)
    for pid in FACTS:
        assert fixture(pid).is_file(), pid


@pytest.mark.parametrize("pid", list(FACTS))
def test_problem_file_and_preset_agree(
    pid: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = fixture(pid)
    problem, preset = load_problem(str(path)), PRESETS[pid]
    assert problem.same_conv(preset), (problem.label(), preset.label())
    assert problem.input_shape == preset.input_shape
    assert problem.weight_shape == preset.weight_shape
    assert problem.output_shape == preset.output_shape  # the conv's output
    assert problem.model_init_inputs() == preset.model_init_inputs()
    assert _normal(problem.conv_args()) == _normal(preset.conv_args())
    assert problem.needs_adapter == preset.needs_adapter
    # Recorded relative to the project when inside it, so a session moves between machines.
    assert problem.origin == str(path.relative_to(ROOT)) and len(problem.file_sha256) == 64
    monkeypatch.chdir(tmp_path)
    assert ProblemFile.for_problem(problem).sha256 == problem.file_sha256  # found from any cwd
    pf = ProblemFile.load(path)
    assert problem.file_sha256 == pf.sha256
    # The conv under seed 42 is the one nn.Conv3d(*conv_args()) draws (KernelBench copies none).
    model = pf.build_model()
    (conv,) = [m for m in model.modules() if isinstance(m, torch.nn.Conv3d)]
    torch.manual_seed(kernelbench.SEED)
    bare = torch.nn.Conv3d(*preset.conv_args())
    assert torch.equal(conv.weight, bare.weight)
    assert (conv.bias is None) == (bare.bias is None)
    if conv.bias is not None:
        assert torch.equal(conv.bias, bare.bias)
    # Level 2: the file's Model does more than the conv, so the whole Model is the reference;
    # the preset is the conv part.
    facts = FACTS[pid]
    assert problem.whole_model == (facts.level == 2)
    assert problem.ops == ((REST_OF_MODEL,) if facts.level == 2 else ())
    assert preset.ops == facts.ops and not preset.whole_model


# The whole Model's output shapes (KernelBench's files on the meta device, from the facts).
MODEL_OUTPUT = {
    "L1/54": (16, 64, 62, 62, 62), "L1/59": (16, 64, 254, 254, 10),
    "L1/60": (16, 64, 62, 60, 58), "L1/66": (8, 64, 14, 124, 122),
    "L2/6": (128, 16, 3, 7, 7), "L2/7": (64, 32, 30, 62, 62), "L2/8": (128, 1, 1, 1),
    "L2/23": (128,), "L2/24": (128, 24, 30, 30), "L2/27": (1024, 16),
    "L2/43": (4, 1, 16, 64, 64), "L2/47": (16, 64, 30, 62, 62), "L2/48": (128, 16, 14, 62, 62),
    "L2/79": (128, 14, 30, 30), "L2/83": (128, 16, 14, 62, 62), "L2/90": (128, 64, 14, 62, 62),
}  # fmt: skip


@pytest.mark.parametrize("pid", list(FACTS))
def test_fixture_model_output_shape_is_kernelbench_s(pid: str) -> None:
    pf = ProblemFile.load(fixture(pid))
    model = pf.build_model("meta")
    (shape,) = pf.input_shapes()
    with torch.no_grad():
        out = model(torch.empty(shape, device="meta"))
    assert tuple(out.shape) == MODEL_OUTPUT[pid]


def test_extra_parameters_are_drawn_after_the_conv() -> None:
    """L2/48: conv weight, conv bias, then scaling_factor and bias from randn, in that order."""
    model = ProblemFile.load(fixture("L2/48")).build_model()
    torch.manual_seed(kernelbench.SEED)
    torch.nn.Conv3d(3, 16, 3)
    scaling, bias = torch.randn(16, 1, 1, 1), torch.randn(16, 1, 1, 1)
    assert torch.equal(model.scaling_factor, scaling) and torch.equal(model.bias, bias)


# --- malformed problem files: one line that says what to do ------------------------------------
HEAD = "import torch\nimport torch.nn as nn\n\n"
INPUTS = "def get_inputs():\n    return [torch.rand(2, 3, 6, 6, 6)]\n\n"
INIT = "def get_init_inputs():\n    return [3, 8, 3]\n"
CONV_MODEL = (
    "class Model(nn.Module):\n"
    "    def __init__(self, ci, co, k):\n"
    "        super().__init__()\n"
    "        self.conv = nn.Conv3d(ci, co, k)\n"
    "    def forward(self, x):\n"
    "        return self.conv(x)\n\n"
)
MALFORMED = {
    "no_model": (HEAD + INPUTS + INIT, "no class Model(nn.Module)"),
    "no_get_inputs": (HEAD + CONV_MODEL + INIT, "no def get_inputs()"),
    "no_get_init_inputs": (HEAD + CONV_MODEL + INPUTS, "no def get_init_inputs()"),
    "no_conv": (
        HEAD + CONV_MODEL.replace("nn.Conv3d(ci, co, k)", "nn.Linear(ci, co)") + INPUTS + INIT,
        "has no nn.Conv3d",
    ),
    "two_convs": (
        HEAD
        + CONV_MODEL.replace(
            "self.conv = nn.Conv3d(ci, co, k)\n",
            "self.conv = nn.Conv3d(ci, co, k)\n        self.conv2 = nn.Conv3d(co, co, k)\n",
        )
        + INPUTS
        + INIT,
        "has 2 nn.Conv3d modules",
    ),
    "model_raises": (
        HEAD + CONV_MODEL.replace("super().__init__()", "raise ValueError('no such size')")
        + INPUTS + INIT,
        "Model(*get_init_inputs()) raised ValueError: no such size",
    ),
    "import_raises": (HEAD + "1 / 0\n" + CONV_MODEL + INPUTS + INIT, "ZeroDivisionError"),
    "get_inputs_raises": (
        HEAD + CONV_MODEL + INPUTS.replace("return", "raise RuntimeError('gone'); return") + INIT,
        "get_inputs() raised RuntimeError: gone",
    ),
    "syntax_error": (HEAD + "class Model(nn.Module:\n", "syntax error"),
    "wrong_channels": (HEAD + CONV_MODEL + INPUTS + INIT.replace("3, 8", "4, 8"), "channels"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_problem_file_is_one_line(case: str, tmp_path: Path) -> None:
    text, words = MALFORMED[case]
    path = tmp_path / f"{case}.py"
    path.write_text(text)
    with pytest.raises(ProblemError) as info:
        load_problem(str(path))
    message = str(info.value)
    assert "\n" not in message and "Traceback" not in message
    assert words in message, message
    assert str(path) in message


def test_missing_problem_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(ProblemError, match="does not exist"):
        load_problem(str(tmp_path / "nowhere.py"))
    with pytest.raises(ProblemError, match="is a directory"):
        load_problem(str(tmp_path))
    with pytest.raises(ProblemError, match="is empty"):
        load_problem("  ")


def test_the_conv_only_file_is_not_a_whole_model(tmp_path: Path) -> None:
    path = tmp_path / "conv_only.py"
    path.write_text(HEAD + CONV_MODEL + INPUTS + INIT)
    problem = load_problem(str(path))
    assert not problem.whole_model and problem.bias  # nn.Conv3d's default bias=True
    assert problem.needs_adapter  # ModelNew(3, 8, 3) with the L1 constructor has no bias
