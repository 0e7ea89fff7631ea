"""A sweep's search space: values per tunable, and restrictions between them.

Written as `BLOCK_M=32,64,128;BLOCK_N=64;num_warps=4,8;BLOCK_M*BLOCK_N<=16384`: `;` between
items, `,` between values; `lo..hi` is the powers of two from lo to hi. An item with a comparison
is a restriction, written in a small expression language (names of tunables, integers,
+ - * // %, comparisons, and/or/not, parentheses) that is parsed and walked here: never eval.

By default the space follows the user's own stage rules: BLOCK_* powers of two, fp32 M/N in
{32, 64, 128, 256} and K in {16, 32, 64} (multiples of 16 and 8, as tensor cores want),
num_warps in {2, 4, 8, 16}, num_stages in {2, 3, 4}, and the precision modes the kernel offers
that pass KernelBench's 1e-4 check (plain tf32 does not; it is left out unless asked for).
A kernel file's own config-block choices (conv3d_fast3's WG_TILES, TAPS) enter the space only
where `--space` names them; elsewhere the file's value holds.
"""

from __future__ import annotations

import ast
import itertools
import operator
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from workbench.core.config import Config, is_block_key, is_pow2, parse_value
from workbench.core.errors import SpaceError

SPACE_HELP = "write e.g. BLOCK_M=32,64,128;BLOCK_N=64;num_warps=4,8;BLOCK_M*BLOCK_N<=16384"
BLOCK_MN = (32, 64, 128, 256)
BLOCK_K = (16, 32, 64)
WARPS = (2, 4, 8, 16)
STAGES = (2, 3, 4)
# Precision modes and what each costs in accuracy (KernelBench checks fp32 at 1e-4).
PRECISION_NOTES = {
    "ieee": "exact fp32 on the FP32 cores",
    "tf32x3": "three TF32 products: fp32-accurate (~1e-7), passes 1e-4",
    "tf32x3r": "three TF32 products split in registers: fp32-accurate, passes 1e-4",
    "bf16x3": "three bf16 products: ~4e-6, passes 1e-4",
    "bf16x6": "six bf16 products: fp32-accurate, passes 1e-4",
    "tf32": "one TF32 product: errs ~7e-4 and FAILS KernelBench's 1e-4 check",
}
FAILING_PRECISIONS = ("tf32",)

_COMPARE = re.compile(r"<=|>=|==|!=|<|>")
_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
}
_COMPARISONS: dict[type, Callable[[Any, Any], bool]] = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}


@dataclass(frozen=True)
class Restriction:
    """One restriction, kept as its text and its checked syntax tree."""

    text: str
    tree: ast.Expression = field(compare=False, repr=False)
    names: frozenset[str] = field(compare=False, default=frozenset())

    @classmethod
    def parse(cls, text: str) -> Restriction:
        try:
            tree = ast.parse(text, mode="eval")
        except SyntaxError:
            raise SpaceError(f"cannot read the restriction {text!r}: {SPACE_HELP}") from None
        names: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Name):
                names.add(node.id)
            elif not isinstance(node, _ALLOWED):
                raise SpaceError(
                    f"{text!r}: {type(node).__name__} is not allowed in a restriction; use names,"
                    " integers, + - * // %, comparisons, and/or/not"
                )
            if isinstance(node, ast.Constant) and not isinstance(node.value, int | str):
                raise SpaceError(
                    f"{text!r}: only integers and words may appear, not {node.value!r}"
                )
        return cls(text, tree, frozenset(names))

    def holds(self, config: Config) -> bool:
        return bool(_evaluate(self.tree.body, config, self.text))


_ALLOWED = (
    ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub, ast.BinOp,
    ast.Compare, ast.Name, ast.Load, ast.Constant, *_BINARY, *_COMPARISONS,
)  # fmt: skip


def _evaluate(node: ast.expr, config: Config, text: str) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        if node.id not in config:
            raise SpaceError(f"{text!r} names {node.id}, which is not a tunable of this sweep")
        return config[node.id]
    if isinstance(node, ast.BoolOp):
        values = (_evaluate(v, config, text) for v in node.values)
        return all(values) if isinstance(node.op, ast.And) else any(values)
    if isinstance(node, ast.UnaryOp):
        value = _evaluate(node.operand, config, text)
        return (not value) if isinstance(node.op, ast.Not) else -value
    if isinstance(node, ast.BinOp):
        left, right = _evaluate(node.left, config, text), _evaluate(node.right, config, text)
        if not isinstance(left, int) or not isinstance(right, int):
            raise SpaceError(f"{text!r}: arithmetic needs numbers, got {left!r} and {right!r}")
        if isinstance(node.op, ast.FloorDiv | ast.Mod) and right == 0:
            raise SpaceError(f"{text!r} divides by zero")
        return _BINARY[type(node.op)](left, right)
    if isinstance(node, ast.Compare):
        left = _evaluate(node.left, config, text)
        for op, right_node in zip(node.ops, node.comparators):
            right = _evaluate(right_node, config, text)
            if not _COMPARISONS[type(op)](left, right):
                return False
            left = right
        return True
    raise SpaceError(f"{text!r}: {type(node).__name__} is not allowed")


@dataclass
class Space:
    """Values per tunable (in order) and the restrictions every config must meet."""

    values: dict[str, tuple[int | str, ...]]
    restrictions: list[Restriction] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what the default left out, and why

    def configs(self) -> Iterator[Config]:
        names = list(self.values)
        for combo in itertools.product(*(self.values[n] for n in names)):
            config: Config = dict(zip(names, combo))
            if all(r.holds(config) for r in self.restrictions):
                yield config

    @property
    def size(self) -> int:
        return sum(1 for _ in self.configs())

    def text(self) -> str:
        """The space written the way `--space` reads it."""
        items = [f"{k}={','.join(str(v) for v in vs)}" for k, vs in self.values.items()]
        return ";".join(items + [r.text for r in self.restrictions])


def parse_space(
    text: str, tunables: dict[str, tuple[int | str, ...]] | None = None
) -> tuple[dict[str, tuple[int | str, ...]], list[Restriction]]:
    """`--space` as values per key and restrictions. `tunables` (name -> allowed choices), when
    given, refuses keys the kernel does not have."""
    values: dict[str, tuple[int | str, ...]] = {}
    restrictions: list[Restriction] = []
    for raw in text.split(";"):
        item = raw.strip()
        if not item:
            continue
        if _COMPARE.search(item):  # `a <= b`: a restriction; `a=1,2`: values
            restrictions.append(Restriction.parse(item))
            continue
        key, sep, rest = item.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier() or not rest.strip():
            raise SpaceError(f"cannot read {item!r} in the space: {SPACE_HELP}")
        if key in values:
            raise SpaceError(f"{key} is given twice in the space: keep one")
        if tunables is not None and key not in tunables:
            raise SpaceError(
                f"{key} is not a tunable of this kernel; its tunables are {', '.join(tunables)}"
            )
        values[key] = _values(key, rest)
    names = set(tunables or {}) | set(values)
    for r in restrictions:
        unknown = r.names - names
        if unknown:
            raise SpaceError(
                f"the restriction {r.text!r} names {', '.join(sorted(unknown))}, not a tunable"
            )
    return values, restrictions


def _values(key: str, text: str) -> tuple[int | str, ...]:
    out: list[int | str] = []
    for token in (t.strip() for t in text.split(",")):
        if not token:
            raise SpaceError(f"{key}: an empty value in {text!r}: {SPACE_HELP}")
        if ".." in token:
            lo_text, _, hi_text = token.partition("..")
            try:
                lo, hi = int(lo_text), int(hi_text)
            except ValueError:
                raise SpaceError(
                    f"{key}: {token!r} is not a range of powers of two like 32..256"
                ) from None
            if not (is_pow2(lo) and is_pow2(hi) and lo <= hi):
                raise SpaceError(
                    f"{key}: {token!r} must run between powers of two, low to high, like 32..256"
                )
            out.extend(2**i for i in range(lo.bit_length() - 1, hi.bit_length()))
            continue
        try:
            value = parse_value(key, token)
        except Exception as err:  # ConfigError: a word where a number belongs
            raise SpaceError(f"{key}: {token!r} is not a value: {err}") from None
        out.append(value)
    return tuple(dict.fromkeys(out))


def default_space(tunables: list[Any], precision_modes: tuple[str, ...] = ()) -> Space:
    """The space the user's stage rules give for a kernel's tunables (see the module docstring)."""
    values: dict[str, tuple[int | str, ...]] = {}
    notes: list[str] = []
    for t in tunables:
        name = t.name
        if name == "num_warps":
            values[name] = WARPS
        elif name == "num_stages":
            values[name] = STAGES
        elif name == "precision":
            modes = tuple(m for m in t.choices if m not in FAILING_PRECISIONS)
            values[name] = modes or (t.default,)
            for mode in t.choices:
                if mode in FAILING_PRECISIONS:
                    notes.append(
                        f"precision={mode} left out: {PRECISION_NOTES[mode]} (add it with --space)"
                    )
        elif getattr(t, "kind", "") == "host":  # a wrapper's choice: in the space when named
            continue
        elif is_block_key(name) or "TILE" in name.upper():
            upper = name.upper()
            k_like = upper.endswith(("_K", "_R"))
            base = BLOCK_K if k_like else BLOCK_MN
            values[name] = tuple(
                sorted(set(base) | ({t.default} if isinstance(t.default, int) else set()))
            )
        else:
            values[name] = (t.default,)
    return Space(values, [], notes)
