"""KernelBench, as data: how it judges a submission and the facts of its conv3d problems.

Written from KernelBench's files (ScalingIntelligence/KernelBench, main of 2026-03; notes in
docs/kernelbench.md), not copied from them. Where the workbench and KernelBench differ, the
workbench is wrong: these numbers are the contract.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# --- how it judges -------------------------------------------------------------------------------
TOLERANCE = {"float32": 1e-4, "float16": 1e-2, "bfloat16": 1e-2}  # atol = rtol
SEED = 42  # torch.manual_seed before Model(*init) and again before ModelNew(*init)
CORRECTNESS_TRIALS = 5  # each with fresh get_inputs() under its own seed; all must pass
WARMUPS = 3  # calls before timing, each followed by a synchronize
REF_WARMUPS = 5  # measure_ref_program_time's, for the reference Model (under no_grad)
TIMED_TRIALS = 100  # plus one discarded first trial
DISCARD_FIRST = 1
L2_FLUSH_BYTES = 256 * 1024 * 1024  # an int64 buffer filled before every timed trial
PROTOCOL = (
    "KernelBench's protocol: CUDA events, 3 warm-ups, mean of 100 trials (first of 101 dropped),"
    " each after filling 256 MB to flush L2, autograd on"
)


def correctness_seeds(count: int = CORRECTNESS_TRIALS) -> list[int]:
    """The per-trial seeds KernelBench draws from its base seed (torch.randint under seed 42)."""
    import torch  # heavy: only a worker asks

    generator = torch.Generator().manual_seed(SEED)
    return [
        int(torch.randint(0, 2**32 - 1, (1,), generator=generator).item()) for _ in range(count)
    ]


# --- its conv3d problems -------------------------------------------------------------------------
# A Model's constructor as data: its parameter names ("name=default" where it has one) and the
# eight positional arguments of the nn.Conv3d it builds, each a parameter name, a literal, or a
# tuple of those (L1/59's `(kernel_size, kernel_size, 1)`).
L1_PARAMS = (
    "in_channels",
    "out_channels",
    "kernel_size",
    "stride=1",
    "padding=0",
    "dilation=1",
    "groups=1",
    "bias=False",
)
L1_CONV = (
    "in_channels",
    "out_channels",
    "kernel_size",
    "stride",
    "padding",
    "dilation",
    "groups",
    "bias",
)


def _l2_conv(*rest: Any) -> tuple[Any, ...]:
    """A Level-2 Model's conv: nn.Conv3d(in_channels, out_channels, kernel_size, ...) with bias."""
    defaults = (1, 0, 1, 1, True)
    return ("in_channels", "out_channels", "kernel_size", *rest, *defaults[len(rest) :])


@dataclass(frozen=True)
class ProblemFacts:
    """One KernelBench conv3d problem file, as facts."""

    id: str
    file: str
    batch: int
    in_dims: tuple[int, int, int]  # the input's dims 2..4, in get_inputs() order
    init_inputs: tuple[Any, ...]  # get_init_inputs()
    params: tuple[str, ...]  # Model.__init__'s parameters
    conv: tuple[Any, ...]  # what Model passes to nn.Conv3d, positionally
    ops: tuple[str, ...] = ()  # Level 2: what forward does after the conv, in order
    extra_rng: bool = False  # __init__ draws random numbers after the conv (extra parameters)

    @property
    def level(self) -> int:
        return int(self.id[1])


FACTS: tuple[ProblemFacts, ...] = (
    ProblemFacts("L1/54", "level1/54_conv_standard_3D__square_input__square_kernel.py",
                 16, (64, 64, 64), (3, 64, 3), L1_PARAMS, L1_CONV),
    ProblemFacts("L1/59", "level1/59_conv_standard_3D__asymmetric_input__square_kernel.py",
                 16, (256, 256, 10), (3, 64, 3), L1_PARAMS,
                 ("in_channels", "out_channels", ("kernel_size", "kernel_size", 1), *L1_CONV[3:])),
    ProblemFacts("L1/60", "level1/60_conv_standard_3D__square_input__asymmetric_kernel.py",
                 16, (64, 64, 64), (3, 64, (3, 5, 7)), L1_PARAMS, L1_CONV),
    ProblemFacts("L1/66", "level1/66_conv_standard_3D__asymmetric_input__asymmetric_kernel.py",
                 8, (16, 128, 128), (3, 64, (3, 5, 7)), L1_PARAMS, L1_CONV),
    ProblemFacts("L2/6", "level2/6_Conv3d_Softmax_MaxPool_MaxPool.py",
                 128, (16, 32, 32), (3, 16, 3, 2),
                 ("in_channels", "out_channels", "kernel_size", "pool_kernel_size"), _l2_conv(),
                 ("softmax(dim=1)", "MaxPool3d(2)", "MaxPool3d(2)")),
    ProblemFacts("L2/7", "level2/7_Conv3d_ReLU_LeakyReLU_GELU_Sigmoid_BiasAdd.py",
                 64, (32, 64, 64), (8, 32, 3, (32, 1, 1, 1)),
                 ("in_channels", "out_channels", "kernel_size", "bias_shape"), _l2_conv(),
                 ("relu", "leaky_relu(0.01)", "gelu", "sigmoid", "+ bias(32,1,1,1)"), True),
    ProblemFacts("L2/8", "level2/8_Conv3d_Divide_Max_GlobalAvgPool_BiasAdd_Sum.py",
                 128, (16, 64, 64), (8, 16, (3, 3, 3), 2.0, (2, 2, 2), (16, 1, 1, 1), 1),
                 ("in_channels", "out_channels", "kernel_size", "divisor", "pool_size",
                  "bias_shape", "sum_dim"), _l2_conv(),
                 ("/ 2.0", "MaxPool3d(2)", "AdaptiveAvgPool3d(1)", "+ bias(16,1,1,1)", "sum(dim=1)"),
                 True),
    ProblemFacts("L2/23", "level2/23_Conv3d_GroupNorm_Mean.py",
                 128, (24, 32, 32), (3, 24, 3, 8),
                 ("in_channels", "out_channels", "kernel_size", "num_groups"), _l2_conv(),
                 ("GroupNorm(8, 24)", "mean(dim=[1,2,3,4])")),
    ProblemFacts("L2/24", "level2/24_Conv3d_Min_Softmax.py",
                 128, (24, 32, 32), (3, 24, 3, 2),
                 ("in_channels", "out_channels", "kernel_size", "dim"), _l2_conv(),
                 ("min(dim=2)", "softmax(dim=1)")),
    ProblemFacts("L2/27", "level2/27_Conv3d_HardSwish_GroupNorm_Mean.py",
                 1024, (16, 32, 32), (3, 16, 4),
                 ("in_channels", "out_channels", "kernel_size", "num_groups=4", "bias=True"),
                 ("in_channels", "out_channels", "kernel_size", 1, 0, 1, 1, "bias"),
                 ("hardswish", "GroupNorm(4, 16)", "mean(dim=[2,3,4])")),
    ProblemFacts("L2/43", "level2/43_Conv3d_Max_LogSumExp_ReLU.py",
                 4, (32, 128, 128), (32, 64, 3, 1, 1),
                 ("in_channels", "out_channels", "kernel_size", "stride", "padding"),
                 _l2_conv("stride", "padding"),
                 ("MaxPool3d(2, stride=2)", "logsumexp(dim=1, keepdim=True)", "relu")),
    ProblemFacts("L2/47", "level2/47_Conv3d_Mish_Tanh.py",
                 16, (32, 64, 64), (32, 64, 3),
                 ("in_channels", "out_channels", "kernel_size", "stride=1", "padding=0"),
                 _l2_conv("stride", "padding"), ("mish", "tanh")),
    ProblemFacts("L2/48", "level2/48_Conv3d_Scaling_Tanh_Multiply_Sigmoid.py",
                 128, (16, 64, 64), (3, 16, 3, 2, (16, 1, 1, 1)),
                 ("in_channels", "out_channels", "kernel_size", "scaling_factor", "bias_shape"),
                 _l2_conv(),
                 ("* scaling(16,1,1,1)", "tanh", "* bias(16,1,1,1)", "sigmoid"), True),
    ProblemFacts("L2/79", "level2/79_Conv3d_Multiply_InstanceNorm_Clamp_Multiply_Max.py",
                 128, (16, 32, 32), (3, 16, 3, (16, 1, 1, 1), -1.0, 1.0),
                 ("in_channels", "out_channels", "kernel_size", "multiplier_shape", "clamp_min",
                  "clamp_max"), _l2_conv(),
                 ("* multiplier(16,1,1,1)", "InstanceNorm3d(16)", "clamp(-1, 1)",
                  "* multiplier", "max(dim=1)"), True),
    ProblemFacts("L2/83", "level2/83_Conv3d_GroupNorm_Min_Clamp_Dropout.py",
                 128, (16, 64, 64), (3, 16, 3, 8, 0.0, 1.0, 0.2),
                 ("in_channels", "out_channels", "kernel_size", "groups", "min_value", "max_value",
                  "dropout_p"), _l2_conv(),
                 ("GroupNorm(8, 16)", "min(x, 0.0)", "clamp(0, 1)", "Dropout(0.2)")),
    ProblemFacts("L2/90", "level2/90_Conv3d_LeakyReLU_Sum_Clamp_GELU.py",
                 128, (16, 64, 64), (8, 64, 3, (64, 1, 1, 1)),
                 ("in_channels", "out_channels", "kernel_size", "sum_tensor_shape"), _l2_conv(),
                 ("leaky_relu(0.2)", "+ sum_tensor(64,1,1,1)", "clamp(-1, 1)", "gelu"), True),
)  # fmt: skip


# --- its static checker --------------------------------------------------------------------------
# kernel_static_checker.py's errors for a Triton submission: each (pattern, what it is). It cuts
# every line at the first '#' and the first '//' and keeps docstrings, so "pass" in a docstring
# fails while `a // b` hides the rest of its line.
STATIC_ERRORS: tuple[tuple[str, str], ...] = (
    (r"\btry\s*:", "try:"),
    (r"\bexcept\s*:|\bexcept\s+\w+", "except"),
    (r"\bpass\b", "the word 'pass'"),
    (r"torch\.cuda\.Event\.record\s*=|torch\.cuda\.Event\.elapsed_time\s*=|torch\.cuda\.synchronize\s*="
     r"|torch\.cuda\.Event\s*=|time\.perf_counter\s*=|time\.time\s*=", "timer patching"),
    (r"threading\.Thread\s*\(|import\s+threading|from\s+threading\s+import"
     r"|multiprocessing\.(Process|Pool|Manager|Queue|Pipe)|import\s+multiprocessing"
     r"|concurrent\.futures|ThreadPoolExecutor|ProcessPoolExecutor", "threads or processes"),
    (r"_make_subclass|class\s+\w+.*\(torch\.Tensor\)|class\s+\w+.*\(Tensor\)|torch\.Tensor\.__new__",
     "a lazy Tensor subclass"),
)  # fmt: skip
TRITON_REQUIRED: tuple[tuple[str, str], ...] = (
    (r"@triton\.(jit|autotune)", "no @triton.jit or @triton.autotune (written as `@triton.`)"),
    (r"\btl\.\w+", "no tl.* operation"),
)
