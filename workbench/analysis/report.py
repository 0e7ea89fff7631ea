"""The inspect report: one config on one problem for one target GPU, with no GPU needed.

Compiles the real launch for the target (registers, spills, shared memory from the cubin), then
models what the hardware would do with it: theoretical occupancy, waves and tail, and the masked
lanes of the tile over the implicit GEMM. Rule breaks (the user's tuning rules, spills, a grid
too large to launch) come with it.
"""

from __future__ import annotations

import contextlib

from workbench.analysis.advice import precision_advice
from workbench.analysis.model import predict, source_precision
from workbench.core.config import Config, check_rules, precision_modes, validate
from workbench.core.errors import WorkbenchError
from workbench.core.gpus import GPU
from workbench.core.occupancy import occupancy, tile_waste, waves
from workbench.core.problem import Problem
from workbench.core.records import (
    HelperLaunch,
    InspectReport,
    KernelRef,
    ProblemRef,
    Resources,
    RuleBreak,
    TargetRef,
    TileWaste,
)
from workbench.kernel.compile import compile_for_target
from workbench.kernel.kernelfile import KernelFile
from workbench.kernel.launch import Launch, TensorArg

TILE_KEYS = ("BLOCK_M", "BLOCK_N", "BLOCK_K")
MAX_GRID_X = 2**31 - 1  # CUDA's limit on gridDim.x
MAX_GRID_YZ = 65535


def target_ref(gpu: GPU) -> TargetRef:
    return TargetRef(key=gpu.key, name=gpu.name, cc=gpu.cc_text, sm=gpu.sm, sms=gpu.sms)


def problem_ref(problem: Problem, full: Problem | None = None) -> ProblemRef:
    """The problem as people read it; `full`: the problem this one is the reduced copy of."""
    return ProblemRef(
        spec=problem.spec(),
        label=problem.label(),
        id=(full or problem).name or None,
        reduced=full is not None,
        reduction=problem.reduction(full) if full is not None else "",
        output_shape=list(problem.output_shape),
        gemm={"m": problem.gemm_m, "n": problem.gemm_n, "k": problem.gemm_k},
        gflop=problem.flops / 1e9,
    )


def inspect_config(kf: KernelFile, problem: Problem, config: Config, gpu: GPU) -> InspectReport:
    """Compile `config` for `gpu` and report everything `inspect` shows, as a typed record.

    Raises ConfigError (a hard rule break, before compiling), CompileError or OutOfResources."""
    validate(config)
    full = kf.full_config(problem, config)
    resources, launch = compile_for_target(kf, problem, full, gpu)
    return report_from_compile(kf, problem, full, gpu, resources, launch)


def report_from_compile(
    kf: KernelFile,
    problem: Problem,
    config: Config,
    gpu: GPU,
    resources: Resources,
    launch: Launch,
) -> InspectReport:
    """The report for a compile already made (a worker compiles once and reports from it)."""
    occ = occupancy(gpu.arch, 32 * resources.num_warps, resources.registers, resources.shared_bytes)
    gemm = (problem.gemm_m, problem.gemm_n, problem.gemm_k)
    waste, waste_note = _waste({**launch.constexprs, **config}, gemm)
    modes = precision_modes(kf.tunables(problem))
    rules = check_rules(config, gemm, modes)
    rules += resource_rules(resources, launch, gpu)
    helpers, helpers_note = _helpers(kf, problem, config)
    report = InspectReport(
        resources=resources,
        occupancy=occ,
        grid=list(launch.grid),
        grid_blocks=launch.grid_blocks,
        waves=waves(launch.grid_blocks, occ.blocks_per_sm, gpu.sms),
        waste=waste,
        waste_note=waste_note,
        rules=rules,
        helpers=helpers,
        target=target_ref(gpu),
        problem=problem_ref(problem),
        kernel=KernelRef(
            path=str(kf.path), sha256=kf.sha256, name=launch.name, builtin=kf.is_builtin
        ),
        config=dict(config),
        untunable=kf.untunable(problem),
        provenance=[
            f"registers/spills/shared: {resources.source} (no GPU needed)",
            "occupancy: theoretical, cuda_occupancy.h algorithm",
            "waste: model of the implicit GEMM",
            *([f"ModelNew: {kf.adapter_note}"] if kf.adapter_note else []),
            *([helpers_note] if helpers_note else []),
            *([note] if (note := gluon_note(kf)) else []),
        ],
    )
    # A precision the kernel writes into its dot (no config names it): the model needs it.
    hinted = {"precision": source_precision(kf.source)} if source_precision(kf.source) else {}
    if occ.blocks_per_sm > 0:  # a config that cannot launch gets no predicted time
        with contextlib.suppress(ValueError):  # a target without a spec sheet: none either
            seen = report.replace(config={**hinted, **_scalars(launch.constexprs), **config})
            report.prediction = predict(seen, problem, gpu)
            report.provenance.append(f"prediction: {report.prediction.calibration}")
    precision = str(
        config.get("precision", launch.constexprs.get("precision", hinted.get("precision", "")))
    )
    report.advice = precision_advice(problem, gpu, precision, modes, report.prediction)
    return report


def gluon_note(kf: KernelFile) -> str:
    """What a compile for the target cannot see: the file's Gluon kernels (conv3d_fast3's
    bf16x3g runs one on Hopper), which launch only on their device; the dry launch compiled
    here is the Triton kernel the file runs in their place elsewhere. "" for a file without."""
    if not kf.gluon_kernels:
        return ""
    names = ", ".join(kf.gluon_kernels)
    return (
        f"{kf.name} also has Gluon kernels ({names}), which are not compiled here:"
        " where the file launches one on the GPU (conv3d_fast3: precision=bf16x3g on sm_90), the"
        " registers, occupancy and predicted ms are those of the Triton kernel it runs elsewhere;"
        " only a GPU measurement is the Gluon kernel's"
    )


def helper_records(launches: list[Launch]) -> list[HelperLaunch]:
    """The wrapper's other launches as the report and the model keep them."""
    return [
        HelperLaunch(
            name=launch.name,
            grid_blocks=launch.grid_blocks,
            num_warps=launch.num_warps,
            tensor_bytes=launch.tensor_bytes,
            tensors=[
                f"{name} {str(v.dtype).replace('torch.', '')}{list(v.shape)}"
                for name, v in launch.args.items()
                if isinstance(v, TensorArg)
            ],
        )
        for launch in launches
    ]


def _helpers(kf: KernelFile, problem: Problem, config: Config) -> tuple[list[HelperLaunch], str]:
    """(the helper launches of one steady-state call, a provenance line where there are any or
    they could not be captured)."""
    try:
        helpers = helper_records(kf.helper_launches(problem, config))
    except WorkbenchError as err:
        return [], f"helper launches: not captured ({err}); not modelled"
    if not helpers:
        return [], ""
    names = ", ".join(h.name for h in helpers)
    return helpers, f"helper launches per call: {names} (captured on meta tensors, second call)"


def _scalars(constexprs: dict[str, object]) -> dict[str, int | str]:
    """The launch's int and str constexprs (tile sizes, precision) for the model."""
    return {
        k: v for k, v in constexprs.items() if isinstance(v, int | str) and not isinstance(v, bool)
    }


def resource_rules(resources: Resources, launch: Launch, gpu: GPU) -> list[RuleBreak]:
    """What the compile says is wrong: spills (slow), a grid the GPU cannot launch (an error)."""
    out = []
    if resources.spill_bytes:
        out.append(
            RuleBreak(
                "registers",
                f"spills {resources.spill_bytes} B per thread to local memory at"
                f" {resources.registers} registers on {gpu.sm}: lower BLOCK_* or num_stages,"
                " or raise num_warps",
                "warning",
            )
        )
    x, y, z = launch.grid
    if x > MAX_GRID_X or y > MAX_GRID_YZ or z > MAX_GRID_YZ:
        out.append(
            RuleBreak(
                "grid",
                f"grid {x} x {y} x {z} exceeds CUDA's limit ({MAX_GRID_X} x {MAX_GRID_YZ} x"
                f" {MAX_GRID_YZ}): the launch would fail; raise BLOCK_M or tile per image",
                "error",
            )
        )
    return out


def _waste(config: Config, gemm: tuple[int, int, int]) -> tuple[TileWaste | None, str]:
    tiles = [config.get(k) for k in TILE_KEYS]
    if not all(isinstance(t, int) for t in tiles):
        return None, (
            "the kernel has no BLOCK_M/BLOCK_N/BLOCK_K constexprs: the waste model needs"
            " the tile of the implicit GEMM"
        )
    bm, bn, bk = (int(t) for t in tiles)  # type: ignore[arg-type]
    return tile_waste(
        *gemm, bm, bn, bk
    ), "masked lanes of BLOCK_M x BLOCK_N x BLOCK_K tiles over M x N x K"
