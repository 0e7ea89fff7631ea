"""A conv3d problem: shapes and conv arguments, derived sizes, KernelBench presets, reduced copies."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, replace

from workbench.errors import ProblemError

Triple = tuple[int, int, int]

DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2}


def _triple(value: int | tuple[int, ...] | list[int], what: str) -> Triple:
    if isinstance(value, int):
        return (value, value, value)
    values = tuple(int(v) for v in value)
    if len(values) == 1:  # `k=3` in a spec string
        return (values[0], values[0], values[0])
    if len(values) != 3:
        raise ProblemError(
            f"{what} needs 1 or 3 values, got {len(values)}: write e.g. {what}=3 or {what}=3x5x7"
        )
    return values  # type: ignore[return-value]


@dataclass(frozen=True)
class Problem:
    """One forward conv3d: x[N, Ci, D, H, W] * w[Co, Ci/groups, Kd, Kh, Kw] (+ bias)."""

    n: int
    ci: int
    co: int
    d: int
    h: int
    w: int
    kernel: Triple
    stride: Triple = (1, 1, 1)
    padding: Triple = (0, 0, 0)
    dilation: Triple = (1, 1, 1)
    groups: int = 1
    bias: bool = False
    dtype: str = "float32"
    name: str = ""

    def __post_init__(self) -> None:
        for field in ("kernel", "stride", "padding", "dilation"):
            object.__setattr__(self, field, _triple(getattr(self, field), field))
        self.validate()

    # --- validation -------------------------------------------------------------------------
    def validate(self) -> None:
        for field in ("n", "ci", "co", "d", "h", "w", "groups"):
            if getattr(self, field) < 1:
                raise ProblemError(f"{field} must be >= 1, got {getattr(self, field)}")
        if min(self.kernel) < 1 or min(self.stride) < 1 or min(self.dilation) < 1:
            raise ProblemError("kernel, stride and dilation must be >= 1 in every dimension")
        if min(self.padding) < 0:
            raise ProblemError(f"padding must be >= 0, got {self.padding}")
        if self.ci % self.groups or self.co % self.groups:
            raise ProblemError(
                f"channels not divisible by groups: Ci={self.ci}, Co={self.co}, groups={self.groups}"
                " (both must be multiples of groups)"
            )
        if self.dtype not in DTYPE_BYTES:
            raise ProblemError(f"dtype {self.dtype!r} unknown: use one of {', '.join(DTYPE_BYTES)}")
        if min(self.output_spatial) < 1:
            raise ProblemError(
                f"empty output {self.output_spatial}: the dilated kernel is larger than the padded"
                f" input {(self.d, self.h, self.w)}; enlarge the input or add padding"
            )

    # --- derived sizes ----------------------------------------------------------------------
    @property
    def output_spatial(self) -> Triple:
        dims = []
        for size, k, s, p, dl in zip(
            (self.d, self.h, self.w), self.kernel, self.stride, self.padding, self.dilation
        ):
            dims.append((size + 2 * p - dl * (k - 1) - 1) // s + 1)
        return tuple(dims)  # type: ignore[return-value]

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (self.n, self.ci, self.d, self.h, self.w)

    @property
    def weight_shape(self) -> tuple[int, ...]:
        return (self.co, self.ci // self.groups, *self.kernel)

    @property
    def output_shape(self) -> tuple[int, ...]:
        return (self.n, self.co, *self.output_spatial)

    @property
    def gemm_m(self) -> int:
        """Rows of the implicit GEMM: every output position of every image."""
        do, ho, wo = self.output_spatial
        return self.n * do * ho * wo

    @property
    def gemm_n(self) -> int:
        """Columns of the implicit GEMM, per group."""
        return self.co // self.groups

    @property
    def gemm_k(self) -> int:
        """Reduction length: input channels per group times kernel volume."""
        kd, kh, kw = self.kernel
        return (self.ci // self.groups) * kd * kh * kw

    @property
    def flops(self) -> int:
        return 2 * self.gemm_m * self.co * self.gemm_k

    @property
    def min_bytes(self) -> int:
        """Each input, weight, bias and output element moved once: the memory floor."""
        elems = _prod(self.input_shape) + _prod(self.weight_shape) + _prod(self.output_shape)
        elems += self.co if self.bias else 0
        return elems * DTYPE_BYTES[self.dtype]

    # --- what a kernel file needs ---------------------------------------------------------
    def init_inputs(self) -> list:
        """Positional arguments for `ModelNew(*init_inputs)`, in nn.Conv3d's order."""
        return [
            self.ci,
            self.co,
            self.kernel,
            self.stride,
            self.padding,
            self.dilation,
            self.groups,
            self.bias,
        ]

    def reduced(self) -> Problem:
        """A tiny copy for Triton's interpreter: same kernel, stride, padding, dilation, groups, bias.

        Keeps at most 2 images, 4 input and 16 output channels per group, and 4 output positions
        per spatial dimension, so the interpreter finishes in seconds.
        """
        out = [min(o, 4) for o in self.output_spatial]
        spatial = []
        for o, k, s, p, dl in zip(out, self.kernel, self.stride, self.padding, self.dilation):
            spatial.append(max(1, (o - 1) * s + dl * (k - 1) + 1 - 2 * p))
        g = self.groups
        return replace(
            self,
            n=min(self.n, 2),
            ci=g * min(self.ci // g, 4),
            co=g * min(self.co // g, 16),
            d=spatial[0],
            h=spatial[1],
            w=spatial[2],
            name=f"{self.name or 'custom'} (reduced)",
        )

    # --- text forms -------------------------------------------------------------------------
    def spec(self) -> str:
        """The command-line spec string; `parse_spec(p.spec())` gives back an equal problem."""
        parts = [
            f"N={self.n}",
            f"Ci={self.ci}",
            f"Co={self.co}",
            f"D={self.d}",
            f"H={self.h}",
            f"W={self.w}",
            f"k={_x(self.kernel)}",
            f"stride={_x(self.stride)}",
            f"pad={_x(self.padding)}",
            f"dil={_x(self.dilation)}",
            f"groups={self.groups}",
            f"bias={int(self.bias)}",
        ]
        if self.dtype != "float32":
            parts.append(f"dtype={self.dtype}")
        return ",".join(parts)

    def label(self) -> str:
        name = f"{self.name}: " if self.name else ""
        return (
            f"{name}N={self.n} {self.ci}->{self.co} k={_x(self.kernel)} in={_x((self.d, self.h, self.w))}"
            f" s={_x(self.stride)} p={_x(self.padding)} d={_x(self.dilation)} g={self.groups}"
            f"{' +bias' if self.bias else ''}"
        )

    def to_dict(self) -> dict:
        data = asdict(self)
        for field in ("kernel", "stride", "padding", "dilation"):
            data[field] = list(data[field])
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Problem:
        try:
            return cls(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in data.items()})
        except TypeError as err:
            raise ProblemError(f"problem record is malformed ({err})") from None


def _prod(shape: tuple[int, ...]) -> int:
    total = 1
    for s in shape:
        total *= s
    return total


def _x(t: tuple[int, ...]) -> str:
    return str(t[0]) if len(set(t)) == 1 else "x".join(map(str, t))


# --- KernelBench presets (reference/kernelbench.md): the conv part of each problem -------------
def _preset(name: str, n, ci, co, k, dhw, padding=0, bias=False) -> Problem:
    return Problem(
        n=n,
        ci=ci,
        co=co,
        d=dhw[0],
        h=dhw[1],
        w=dhw[2],
        kernel=k,
        padding=padding,
        bias=bias,
        name=name,
    )


PRESETS: dict[str, Problem] = {
    p.name: p
    for p in [
        _preset("L1/54", 16, 3, 64, 3, (64, 64, 64)),
        _preset("L1/59", 16, 3, 64, (3, 3, 1), (256, 256, 10)),
        _preset("L1/60", 16, 3, 64, (3, 5, 7), (64, 64, 64)),
        _preset("L1/66", 8, 3, 64, (3, 5, 7), (16, 128, 128)),
        _preset("L2/6", 128, 3, 16, 3, (16, 32, 32), bias=True),
        _preset("L2/79", 128, 3, 16, 3, (16, 32, 32), bias=True),
        _preset("L2/7", 64, 8, 32, 3, (32, 64, 64), bias=True),
        _preset("L2/8", 128, 8, 16, 3, (16, 64, 64), bias=True),
        _preset("L2/23", 128, 3, 24, 3, (24, 32, 32), bias=True),
        _preset("L2/24", 128, 3, 24, 3, (24, 32, 32), bias=True),
        _preset("L2/27", 1024, 3, 16, 4, (16, 32, 32), bias=True),
        _preset("L2/43", 4, 32, 64, 3, (32, 128, 128), padding=1, bias=True),
        _preset("L2/47", 16, 32, 64, 3, (32, 64, 64), bias=True),
        _preset("L2/48", 128, 3, 16, 3, (16, 64, 64), bias=True),
        _preset("L2/83", 128, 3, 16, 3, (16, 64, 64), bias=True),
        _preset("L2/90", 128, 8, 64, 3, (16, 64, 64), bias=True),
    ]
}
DEFAULT_PROBLEM = "L1/66"

_SPEC_KEYS = {
    "n": "n",
    "ci": "ci",
    "co": "co",
    "d": "d",
    "h": "h",
    "w": "w",
    "k": "kernel",
    "kernel": "kernel",
    "stride": "stride",
    "s": "stride",
    "pad": "padding",
    "padding": "padding",
    "p": "padding",
    "dil": "dilation",
    "dilation": "dilation",
    "groups": "groups",
    "g": "groups",
    "bias": "bias",
    "dtype": "dtype",
}
SPEC_HELP = "e.g. L1/66, or N=2,Ci=4,Co=8,D=8,H=8,W=8,k=3,stride=1,pad=1,dil=1,groups=2,bias=1"


def parse_problem(text: str | None) -> Problem:
    """A preset id (`L1/66`, case-insensitive) or a spec string of key=value pairs."""
    text = (text or DEFAULT_PROBLEM).strip()
    preset = PRESETS.get(text.upper())
    if preset is not None:
        return preset
    if re.fullmatch(r"L\d+/\d+", text, flags=re.IGNORECASE):
        raise ProblemError(f"unknown problem {text!r}: known presets are {', '.join(PRESETS)}")
    fields: dict = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        field = _SPEC_KEYS.get(key.strip().lower())
        if not sep or field is None:
            raise ProblemError(f"cannot read {part!r} in problem spec: {SPEC_HELP}")
        value = value.strip()
        try:
            if field == "dtype":
                fields[field] = value
            elif field == "bias":
                fields[field] = value.lower() in ("1", "true", "yes", "y")
            elif field in ("kernel", "stride", "padding", "dilation"):
                fields[field] = _triple([int(v) for v in value.lower().split("x")], key)
            else:
                fields[field] = int(value)
        except ValueError:
            raise ProblemError(f"{key}={value!r} is not a number: {SPEC_HELP}") from None
    missing = [k for k in ("n", "ci", "co", "d", "h", "w", "kernel") if k not in fields]
    if missing:
        raise ProblemError(f"problem spec lacks {', '.join(missing)}: {SPEC_HELP}")
    return Problem(**fields)
