"""A conv3d problem: shapes and conv arguments, derived sizes, KernelBench presets, reduced copies.

A problem also carries what KernelBench's file for it says beyond the conv's shape: the list
`get_init_inputs()` returns, the reference Model's constructor (its parameters and the nn.Conv3d
it builds from them) and, for Level 2, the ops after the conv. KernelBench builds the
submission as `ModelNew(*get_init_inputs())`, so the workbench does too.
"""

from __future__ import annotations

import ast
import re
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from workbench.core import kernelbench
from workbench.core.errors import ProblemError

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
    return values[0], values[1], values[2]


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
    # What KernelBench's file says (empty for a spec: the Level-1 constructor, see init_inputs()).
    init_inputs: tuple[Any, ...] = ()  # get_init_inputs()
    model_params: tuple[str, ...] = ()  # the reference Model's parameters ("stride=1", ...)
    model_conv: tuple[Any, ...] = ()  # the nn.Conv3d it builds from them (see kernelbench.py)
    ops: tuple[str, ...] = ()  # Level 2: the ops after the conv (a preset is the conv part)
    origin: str = field(default="", compare=False)  # where the facts come from, in words
    file_sha256: str = field(default="", compare=False)  # a problem file's hash

    def __post_init__(self) -> None:
        for name in ("kernel", "stride", "padding", "dilation"):
            object.__setattr__(self, name, _triple(getattr(self, name), name))
        for name in ("init_inputs", "model_params", "model_conv", "ops"):
            object.__setattr__(self, name, _tuples(getattr(self, name)))
        self.validate()

    # --- validation -------------------------------------------------------------------------
    def validate(self) -> None:
        for name in ("n", "ci", "co", "d", "h", "w", "groups"):
            if getattr(self, name) < 1:
                raise ProblemError(f"{name} must be >= 1, got {getattr(self, name)}")
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
    def model_init_inputs(self) -> list[Any]:
        """`get_init_inputs()`: what KernelBench passes to `Model(...)` and `ModelNew(...)`.

        A spec problem has no file: it gets the Level-1 constructor's arguments, in nn.Conv3d's
        order, as far as the last one that is not a default."""
        if self.init_inputs:
            return list(self.init_inputs)
        args: list[Any] = [self.ci, self.co, self.kernel]
        rest = [self.stride, self.padding, self.dilation, self.groups, self.bias]
        defaults = [(1, 1, 1), (0, 0, 0), (1, 1, 1), 1, False]
        last = max((i for i, (v, d) in enumerate(zip(rest, defaults)) if v != d), default=-1)
        return args + rest[: last + 1]

    def constructor(self) -> tuple[tuple[str, ...], tuple[Any, ...]]:
        """The reference Model's parameters and the nn.Conv3d arguments it builds from them."""
        return (self.model_params or kernelbench.L1_PARAMS, self.model_conv or kernelbench.L1_CONV)

    def conv_args(self) -> list[Any]:
        """The eight positional nn.Conv3d arguments of the reference, evaluated."""
        params, conv = self.constructor()
        if not _names_in(conv):
            return list(conv)  # a problem file's conv, as literals
        values = bind_params(params, self.model_init_inputs())
        return [_evaluate(item, values) for item in conv]

    @property
    def needs_adapter(self) -> bool:
        """Whether `ModelNew(*init_inputs)` with a conv module's usual signature would build
        another conv than the reference does (L1/59's (k, k, 1); Level 2's extra arguments)."""
        params, conv = self.constructor()
        names = tuple(p.split("=")[0] for p in params)
        return conv != kernelbench.L1_CONV or names != kernelbench.L1_CONV

    def same_conv(self, other: Problem) -> bool:
        """The same convolution (shapes, arguments, dtype), whatever the names and facts."""
        keys = (
            "n",
            "ci",
            "co",
            "d",
            "h",
            "w",
            "kernel",
            "stride",
            "padding",
            "dilation",
            "groups",
            "bias",
            "dtype",
        )
        return all(getattr(self, k) == getattr(other, k) for k in keys)

    @property
    def whole_model(self) -> bool:
        """A problem file whose Model does more than the conv: its whole forward is the reference."""
        return bool(self.ops) and bool(self.file_sha256)

    def reduced(self) -> Problem:
        """A tiny copy for Triton's interpreter: batch and spatial sizes shrink; channels, kernel,
        stride, padding, dilation, groups, bias and the init inputs stay (ModelNew is built from
        them, as KernelBench builds it).

        Keeps at most 2 images and 4 output positions per spatial dimension, so the interpreter
        finishes in seconds.
        """
        out = [min(o, 4) for o in self.output_spatial]
        spatial = []
        for o, k, s, p, dl in zip(out, self.kernel, self.stride, self.padding, self.dilation):
            spatial.append(max(1, (o - 1) * s + dl * (k - 1) + 1 - 2 * p))
        return replace(
            self,
            n=min(self.n, 2),
            d=spatial[0],
            h=spatial[1],
            w=spatial[2],
            name=f"{self.name or 'custom'} (reduced)",
        )

    def reduction(self, full: Problem) -> str:
        """How this reduced copy differs from `full`, in words."""
        return (
            f"reduced for the interpreter: batch {full.n}->{self.n}, input"
            f" {_xx((full.d, full.h, full.w))}->{_xx((self.d, self.h, self.w))} (output"
            f" {_xx(full.output_spatial)}->{_xx(self.output_spatial)}); channels, kernel and init"
            " inputs kept"
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

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for name in ("init_inputs", "model_params", "model_conv", "ops", "origin", "file_sha256"):
            if not data[name]:
                data.pop(name)  # a spec problem's record stays as it always was
        out: dict[str, Any] = _lists(data)
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Problem:
        try:
            return cls(**{k: _tuples(v) if isinstance(v, list) else v for k, v in data.items()})
        except TypeError as err:
            raise ProblemError(f"problem record is malformed ({err})") from None


def _tuples(value: Any) -> Any:
    return tuple(_tuples(v) for v in value) if isinstance(value, list | tuple) else value


def _lists(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _lists(v) for k, v in value.items()}
    return [_lists(v) for v in value] if isinstance(value, list | tuple) else value


def bind_params(params: tuple[str, ...], init_inputs: list[Any]) -> dict[str, Any]:
    """Model.__init__'s parameters bound to `init_inputs` (defaults where they stop)."""
    values: dict[str, Any] = {}
    for i, param in enumerate(params):
        name, sep, default = param.partition("=")
        if i < len(init_inputs):
            values[name] = init_inputs[i]
        elif sep:
            values[name] = _literal(default)
        else:
            raise ProblemError(
                f"get_init_inputs() gives {len(init_inputs)} values; {name} has none"
            )
    return values


def _literal(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return None  # a default that is not a literal: no conv argument is made from it


def _names_in(items: tuple[Any, ...]) -> bool:
    return any(isinstance(i, str) or (isinstance(i, tuple) and _names_in(i)) for i in items)


def _evaluate(item: Any, values: dict[str, Any]) -> Any:
    if isinstance(item, str):
        return values[item]
    if isinstance(item, tuple):
        return tuple(_evaluate(v, values) for v in item)
    return item


def _prod(shape: tuple[int, ...]) -> int:
    total = 1
    for s in shape:
        total *= s
    return total


def _x(t: tuple[int, ...]) -> str:
    return str(t[0]) if len(set(t)) == 1 else "x".join(map(str, t))


# --- KernelBench presets: the conv part of each problem, built from its facts -----------------
def _preset(facts: kernelbench.ProblemFacts) -> Problem:
    values = bind_params(facts.params, list(facts.init_inputs))
    ci, co, kernel, stride, padding, dilation, groups, bias = (
        _evaluate(item, values) for item in facts.conv
    )
    d, h, w = facts.in_dims
    return Problem(
        n=facts.batch, ci=ci, co=co, d=d, h=h, w=w, kernel=kernel, stride=stride,
        padding=padding, dilation=dilation, groups=groups, bias=bias, name=facts.id,
        init_inputs=facts.init_inputs,
        model_params=facts.params if facts.params != kernelbench.L1_PARAMS else (),
        model_conv=facts.conv if facts.conv != kernelbench.L1_CONV else (),
        ops=facts.ops, origin=f"KernelBench {facts.file}",
    )  # fmt: skip


PRESETS: dict[str, Problem] = {f.id: _preset(f) for f in kernelbench.FACTS}
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
    fields: dict[str, Any] = {}
    seen: set[str] = set()
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        name = _SPEC_KEYS.get(key.strip().lower())
        if not sep or name is None:
            raise ProblemError(f"cannot read {part!r} in problem spec: {SPEC_HELP}")
        if name in seen:
            raise ProblemError(f"{key.strip()} is given twice in the problem spec: keep one")
        seen.add(name)
        value = value.strip()
        try:
            if name == "dtype":
                fields[name] = value
            elif name == "bias":
                fields[name] = _bool(value)
            elif name in ("kernel", "stride", "padding", "dilation"):
                fields[name] = _triple([int(v) for v in value.lower().split("x")], key)
            else:
                fields[name] = int(value)
        except ValueError:
            raise ProblemError(f"{key}={value!r} is not a number: {SPEC_HELP}") from None
    missing = [k for k in ("n", "ci", "co", "d", "h", "w", "kernel") if k not in fields]
    if missing:
        raise ProblemError(f"problem spec lacks {', '.join(missing)}: {SPEC_HELP}")
    return Problem(**fields)


def _bool(text: str) -> bool:
    word = text.lower()
    if word in ("1", "true", "yes", "y"):
        return True
    if word in ("0", "false", "no", "n"):
        return False
    raise ProblemError(f"bias={text!r} is not a yes or no: write bias=1 or bias=0")


def _xx(t: tuple[int, ...]) -> str:
    return "x".join(map(str, t))
