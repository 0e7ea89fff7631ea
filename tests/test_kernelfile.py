"""KernelFile on the built-in kernel and on user-style files: loading, importing without a GPU,
device redirection, forcing a config, dry launch capture and tunables. No mocks: real Triton objects,
real meta-tensor forwards; the interpreter runs in a child process with TRITON_INTERPRET=1."""

import json
import os
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from interp import run_in_interpreter

from workbench.core.errors import ConfigError, KernelFileError
from workbench.core.paths import BUILTIN_KERNEL
from workbench.core.problem import PRESETS, parse_problem
from workbench.kernel.kernelfile import KernelFile
from workbench.kernel.launch import device_redirect

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "kernels"
AUTOTUNED = FIXTURES / "user_autotuned.py"
FIXED_GRID = FIXTURES / "user_fixed_grid.py"
L1_66 = PRESETS["L1/66"]


# --- loading -------------------------------------------------------------------------------------
def test_load_builtin():
    kf = KernelFile.load()
    assert kf.path == BUILTIN_KERNEL and kf.is_builtin
    assert len(kf.sha256) == 64 and "ModelNew" in kf.source


@pytest.mark.parametrize(
    "text,words",
    [
        ("import triton\n\ndef f(:\n    pass\n", ":3: syntax error"),
        ("import triton\n\n@triton.jit\ndef k(x):\n    pass\n", "no class ModelNew"),
        ("import torch.nn as nn\n\nclass ModelNew(nn.Module):\n    pass\n", "no @triton.jit"),
    ],
)
def test_load_errors_are_one_actionable_line(tmp_path, text, words):
    path = tmp_path / "bad.py"
    path.write_text(text)
    with pytest.raises(KernelFileError, match=words) as err:
        KernelFile.load(path)
    assert "\n" not in str(err.value) and str(path) in str(err.value)


def test_load_missing_file(tmp_path):
    with pytest.raises(KernelFileError, match="does not exist"):
        KernelFile.load(tmp_path / "nope.py")


def test_from_source_writes_a_cache_file(tmp_path, monkeypatch):
    monkeypatch.setenv("CONV3D_BENCH_CACHE", str(tmp_path))
    source = FIXED_GRID.read_text() + "\n# edited in a session\n"
    kf = KernelFile.from_source(source, "my/conv.py")
    assert kf.path == Path("my/conv.py") and kf.code_path.parent == tmp_path / "sources"
    assert kf.code_path.read_text() == source
    launch = kf.capture_launch(parse_problem("N=1,Ci=3,Co=8,D=6,H=6,W=6,k=3"))
    assert launch.name == "conv3d_flat_kernel"


# --- importing and device redirection -------------------------------------------------------------
def test_import_module_is_fresh_and_unregistered():
    kf = KernelFile.load(AUTOTUNED)
    a, b = kf.import_module("dry"), kf.import_module("dry")
    assert a is not b and a.ModelNew is not b.ModelNew
    assert a.__name__ not in sys.modules and b.__name__ not in sys.modules


def test_import_keeps_asserts_and_is_cuda_holds_under_the_redirect():
    # The wrapper asserts x.is_cuda; the assert stays (users' asserts are their messages) and holds
    # because the device redirect answers is_cuda with True, so the launch is still captured.
    kf = KernelFile.load(AUTOTUNED)
    module = kf.import_module("dry")
    assert "is_cuda" in module.conv3d_tiles.__code__.co_names
    assert kf.capture_launch(PRESETS["L1/66"]).autotuned


def test_interpreter_mode_needs_the_environment_variable():
    if os.environ.get("TRITON_INTERPRET"):
        pytest.skip("this process runs with TRITON_INTERPRET set")
    with pytest.raises(KernelFileError, match="TRITON_INTERPRET=1"):
        KernelFile.load().import_module("interpreter")


@pytest.mark.parametrize("target", ["cpu", "meta"])
def test_device_redirect(target):
    with device_redirect(target):
        made = [
            torch.empty(2, device="cuda"),
            torch.zeros(2, device=torch.device("cuda")),
            torch.ones(2, device="cuda:0"),
            torch.empty(2).cuda(),
            torch.empty(2).to("cuda"),
            torch.empty(2).to(device="cuda"),
            torch.empty(2).to(torch.device("cuda"), torch.float16),
        ]
        assert torch.empty(1).is_cuda  # wrappers that branch on is_cuda take their GPU path
    assert {t.device.type for t in made} == {target}
    assert made[-1].dtype == torch.float16
    assert not torch.empty(1).is_cuda  # only while active


# --- dry capture ----------------------------------------------------------------------------------
def test_capture_builtin_default_launch():
    kf = KernelFile.load()
    launch = kf.capture_launch(L1_66)
    assert launch.name == "conv3d_igemm_kernel" and launch.grid_is_function
    bm, bn = launch.constexprs["BLOCK_M"], launch.constexprs["BLOCK_N"]
    assert launch.grid == (-(-L1_66.gemm_m // bm) * -(-64 // bn), 1, 1)
    assert launch.args["x_ptr"].shape == L1_66.input_shape
    assert launch.args["x_ptr"].dtype == torch.float32
    assert launch.args["C_in"] == 3
    assert kf.default_config(L1_66) == {
        "BLOCK_M": bm,
        "BLOCK_N": bn,
        "BLOCK_K": launch.constexprs["BLOCK_K"],
        "precision": launch.constexprs["precision"],
        "num_warps": launch.num_warps,
        "num_stages": launch.num_stages,
    }
    json.dumps(launch.to_json())  # plain data


def test_capture_follows_a_forced_config():
    kf = KernelFile.load()
    cfg = {"BLOCK_M": 32, "BLOCK_N": 32, "precision": "ieee", "num_warps": 2, "num_stages": 2}
    launch = kf.capture_launch(L1_66, cfg)
    assert launch.grid == (-(-L1_66.gemm_m // 32) * 2, 1, 1)  # the META grid follows
    assert launch.constexprs["precision"] == "ieee"
    assert (launch.num_warps, launch.num_stages) == (2, 2)


def test_builtin_tunables():
    kf = KernelFile.load()
    names = [t.name for t in kf.tunables(L1_66)]
    assert names == ["BLOCK_M", "BLOCK_N", "BLOCK_K", "precision", "num_warps", "num_stages"]
    precision = kf.tunables(L1_66)[3]
    assert precision.choices == ("ieee", "tf32", "tf32x3") and precision.kind == "constexpr"
    assert kf.untunable(L1_66) == {}


def test_unknown_parameter_names_the_tunables():
    kf = KernelFile.load()
    module = kf.import_module("dry")
    with pytest.raises(ConfigError, match="unknown parameter BLOK_M; this kernel's tunables are"):
        kf.forcing({"BLOK_M": 64}, module).__enter__()
    with pytest.raises(ConfigError, match="runtime argument"):
        kf.forcing({"C_in": 4}, module).__enter__()


def test_autotuned_user_file():
    kf = KernelFile.load(AUTOTUNED)
    launch = kf.capture_launch(L1_66)
    # The first autotune config (TILE_P=32) over positions per image x Co/group x N*groups.
    assert launch.grid == (-(-14 * 124 * 122 // 32), 1, 8) and launch.autotuned
    assert kf.default_config(L1_66) == {
        "TILE_P": 32,
        "TILE_CO": 64,
        "TILE_R": 32,
        "num_warps": 4,
        "num_stages": 3,
    }
    kinds = {t.name: t.kind for t in kf.tunables(L1_66)}
    assert kinds["TILE_P"] == "autotune" and kinds["num_warps"] == "launch"
    assert "allow_tf32=False" in kf.untunable(L1_66)["precision"]


def test_forcing_pins_the_autotuner_and_restores_it():
    kf = KernelFile.load(AUTOTUNED)
    launch = kf.capture_launch(L1_66, {"TILE_P": 128, "num_stages": 4})
    assert launch.grid[0] == -(-14 * 124 * 122 // 128)
    assert launch.constexprs["TILE_CO"] == 64  # the rest from the first config
    assert (launch.num_warps, launch.num_stages) == (4, 4)
    module = kf.import_module("dry")
    tuner = module.conv3d_tiles_kernel
    before = list(tuner.configs)
    with kf.forcing({"TILE_P": 64}, module):
        assert len(tuner.configs) == 1 and tuner.configs[0].kwargs["TILE_P"] == 64
    assert tuner.configs == before


def test_fixed_grid_user_file_with_nn_conv3d_parameters():
    kf = KernelFile.load(FIXED_GRID)
    launch = kf.capture_launch(L1_66)
    assert not launch.grid_is_function and launch.grid == (-(-L1_66.gemm_m // 64), 1, 1)
    assert launch.args["w_ptr"].shape == (64, 3, 3, 5, 7)  # self.conv.weight, built on meta
    assert [t.name for t in kf.tunables(L1_66)] == ["num_warps", "num_stages"]
    reasons = kf.untunable(L1_66)
    assert "grid is a tuple computed outside META" in reasons["BLOCK_M"]
    assert "precision" in reasons
    with pytest.raises(ConfigError, match="BLOCK_M is fixed"):
        kf.capture_launch(L1_66, {"BLOCK_M": 128})
    assert kf.capture_launch(L1_66, {"num_warps": 8}).num_warps == 8


def test_wrapper_reading_values_is_reported(tmp_path):
    source = FIXED_GRID.read_text().replace(
        "    total_m = n * d_out",
        "    scale = float(x.abs().max().item())\n    total_m = n * d_out",
    )
    path = tmp_path / "reads_values.py"
    path.write_text(source)
    with pytest.raises(KernelFileError, match="meta tensors") as err:
        KernelFile.load(path).capture_launch(L1_66)
    assert f"{path}:" in str(err.value) and "\n" not in str(err.value)


# --- helper launches: the other kernels of a steady-state call ---------------------------------
HELPERS = """
@triton.jit
def _copy_kernel(src_ptr, dst_ptr, n, BLOCK: tl.constexpr):
    i = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    tl.store(dst_ptr + i, tl.load(src_ptr + i, mask=i < n), mask=i < n)


_PACKED = {}


def conv3d_flat(x, conv):
    key = id(conv.weight)
    if key not in _PACKED:  # packed once per weight, as a wrapper caches it
        w = conv.weight.contiguous()
        _PACKED[key] = torch.empty_like(w)
        _copy_kernel[(triton.cdiv(w.numel(), 1024),)](w, _PACKED[key], w.numel(), BLOCK=1024)
    xs = torch.empty_like(x)  # a per-call staging copy of x
    _copy_kernel[(triton.cdiv(x.numel(), 1024),)](x, xs, x.numel(), BLOCK=1024)
    return _flat(xs, conv)
"""


def test_helper_launches_are_the_other_kernels_of_a_steady_state_call(tmp_path):
    """A wrapper that packs its weight on the first call only and copies x on every call: the
    steady state (the second of two calls on meta tensors) launches the copy of x beside the main
    kernel, each tensor argument's bytes counted once; the first call also launched the pack."""
    source = FIXED_GRID.read_text().replace("def conv3d_flat(x, conv):", "def _flat(x, conv):")
    path = tmp_path / "helpers.py"
    path.write_text(source + HELPERS)
    kf = KernelFile.load(path)
    first = kf.capture_launches(L1_66)
    assert [x.name for x in first] == ["_copy_kernel", "_copy_kernel", "conv3d_flat_kernel"]
    assert kf.capture_launch(L1_66).name == "conv3d_flat_kernel"
    helpers = kf.helper_launches(L1_66)
    x_bytes = 4 * 8 * 3 * 16 * 128 * 128  # L1/66's x, float32
    assert [(h.name, h.grid_blocks, h.tensor_bytes) for h in helpers] == [
        ("_copy_kernel", x_bytes // 4 // 1024, 2 * x_bytes)
    ]
    assert KernelFile.load(FIXED_GRID).helper_launches(L1_66) == []


def test_conv3d_fast3_splits_x_in_a_helper_launch_only_in_bf16x3p():
    kf = KernelFile.load(Path(__file__).resolve().parents[1] / "kernels" / "conv3d_fast3.py")
    l1_54 = PRESETS["L1/54"]
    split = kf.helper_launches(l1_54, kf.full_config(l1_54, {"precision": "bf16x3p"}))
    # x read as fp32 and one int32 word written per element: 8 B x 16 x 3 x 64^3.
    assert [(h.name, h.tensor_bytes) for h in split] == [("_split_x_kernel", 8 * 16 * 3 * 64**3)]
    assert kf.helper_launches(l1_54, kf.full_config(l1_54, {"precision": "bf16x3r"})) == []


# --- the interpreter: forced configs really run, in a child with TRITON_INTERPRET=1 ----------------
CHILD = textwrap.dedent(
    """
    import json, sys, torch
    from workbench.kernel.kernelfile import KernelFile
    from workbench.core.problem import parse_problem
    p = parse_problem("N=2,Ci=3,Co=8,D=5,H=6,W=7,k=3")
    cases = [
        (None, {"BLOCK_M": 32, "BLOCK_N": 16, "BLOCK_K": 16, "precision": "ieee"}),
        (sys.argv[1], {"TILE_P": 16, "TILE_CO": 16, "TILE_R": 16, "num_warps": 2}),
        (sys.argv[2], {"num_warps": 2}),
    ]
    out = []
    for path, cfg in cases:
        kf = KernelFile.load(path)
        module = kf.import_module("interpreter")
        torch.manual_seed(0)
        with kf.device_redirect("cpu"):
            model = module.ModelNew(*p.model_init_inputs())
            x = torch.rand(p.input_shape)
            with kf.forcing(cfg, module):
                y = model(x)
        w = model.weight if hasattr(model, "weight") else model.conv.weight
        out.append(float((y - torch.nn.functional.conv3d(x, w)).abs().max()))
    print(json.dumps(out))
    """
)


def test_forced_configs_run_in_the_interpreter():
    errors = run_in_interpreter(CHILD, str(AUTOTUNED), str(FIXED_GRID), timeout=120)
    assert all(e < 1e-4 for e in errors), errors


def test_force_config_sets_the_config_block_while_it_is_active() -> None:
    """A wrapper that reads its config block on the host (conv3d_fast3's PRECISION decides
    whether x is split once per call) sees the forced config, as the exported file would; the
    module's own values come back afterwards, and only same-typed constants are touched."""
    from workbench.kernel.launch import force_config

    kf = KernelFile.load(BUILTIN_KERNEL.parent / "conv3d_fast3.py")
    module = kf.import_module("dry")
    before = (module.PRECISION, module.BLOCK_M, module.NUM_WARPS)
    with force_config(module, {"precision": "bf16x3p", "BLOCK_M": 64, "num_warps": 8}):
        assert (module.PRECISION, module.BLOCK_M, module.NUM_WARPS) == ("bf16x3p", 64, 8)
    assert before == (module.PRECISION, module.BLOCK_M, module.NUM_WARPS)


def test_config_block_choices_are_host_tunables_a_config_sets() -> None:
    """conv3d_fast3's config block holds choices its wrapper makes on the host (ROW_W, TAPS,
    WG_TILES): each is a tunable of kind "host" at the file's value, a config sets it by name,
    and the launch gets what the wrapper makes of it."""
    kf = KernelFile.load(BUILTIN_KERNEL.parent / "conv3d_fast3.py")
    tunables = {t.name: t for t in kf.tunables(L1_66)}
    host = [name for name, t in tunables.items() if t.kind == "host"]
    assert host == ["ROW_W", "TAPS", "FAST_LAUNCH", "MAXNREG", "WG_WAIT", "WG_TILES"]
    assert tunables["WG_TILES"].default == 0 and tunables["TAPS"].choices == ("auto",)
    assert kf.capture_launch(L1_66).constexprs["ROW_W"] == -1
    assert kf.capture_launch(L1_66, {"ROW_W": 0}).constexprs["ROW_W"] == 0
    taps = {
        v: kf.capture_launch(L1_66, {"TAPS": v}).constexprs["TAPS_ROWS"] for v in ("rows", "table")
    }
    assert taps == {"rows": True, "table": False}
    module = kf.import_module("dry")
    with kf.forcing({"WG_TILES": 2, "WG_WAIT": 3}, module):
        assert (module.WG_TILES, module.WG_WAIT) == (2, 3)
    assert (module.WG_TILES, module.WG_WAIT) == (0, 0)
    # NUM_WARPS is num_warps: the block's spelling of a launch key is not a second tunable
    with pytest.raises(ConfigError, match="unknown parameter NUM_WARPS; .* WG_WAIT, WG_TILES"):
        kf.forcing({"NUM_WARPS": 8}, module).__enter__()
    # A value of another type than the file's would be recorded and never set: refused.
    with pytest.raises(ConfigError, match="WG_TILES='abc' must be a whole number, as the file"):
        kf.forcing({"WG_TILES": "abc"}, module).__enter__()
    with pytest.raises(ConfigError, match="TAPS=7 must be a word, as the file's TAPS = 'auto'"):
        kf.capture_launch(L1_66, {"TAPS": 7})
