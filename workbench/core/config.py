"""A config: the values of a kernel's tunables (BLOCK_M=128, num_warps=8, precision=tf32x3, ...).

A config is a plain ordered `dict[str, int | str]` so it crosses process boundaries and lands in
session files unchanged. This module parses and prints configs and checks them against the
tuning rules kernel engineers use (powers of two, tensor-core multiples, KernelBench precision).
"""

from __future__ import annotations

from typing import Any

from workbench.core.errors import ConfigError
from workbench.core.records import RuleBreak

Config = dict[str, int | str]

LAUNCH_KEYS = ("num_warps", "num_stages")
PRECISIONS = ("ieee", "tf32", "tf32x3")
CONFIG_HELP = "write key=value pairs, e.g. BLOCK_M=128,BLOCK_N=64,BLOCK_K=32,num_warps=8,num_stages=2,precision=tf32x3"


def parse_config(text: str | None) -> Config:
    """`BLOCK_M=128,num_warps=8,precision=tf32x3` -> {"BLOCK_M": 128, ...}. Empty -> {}."""
    config: Config = {}
    for part in filter(None, (p.strip() for p in (text or "").replace(" ", ",").split(","))):
        key, sep, value = part.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not value:
            raise ConfigError(f"cannot read {part!r} in config: {CONFIG_HELP}")
        if not key.isidentifier():
            raise ConfigError(f"{key!r} is not a parameter name: {CONFIG_HELP}")
        if key in config:  # last-wins would hide a typo
            raise ConfigError(
                f"{key} is given twice in the config ({key}={config[key]} and {part}): keep one"
            )
        config[key] = parse_value(key, value)
    return config


EXAMPLE_VALUE = {"num_warps": 4, "num_stages": 3}


def parse_value(key: str, value: str) -> int | str:
    """A typed value: integers stay integers; `precision` and other words stay strings."""
    try:
        return int(value, 0)
    except ValueError:
        if key in LAUNCH_KEYS or is_block_key(key):
            example = EXAMPLE_VALUE.get(key, 64)
            raise ConfigError(
                f"{key}={value!r} must be a whole number, e.g. {key}={example}"
            ) from None
        return value


def is_block_key(key: str) -> bool:
    return key.upper().startswith("BLOCK")


def format_config(config: Config) -> str:
    return ",".join(f"{k}={v}" for k, v in config.items())


def short_config(config: Config) -> str:
    """`64x64x32 w4 s2 tf32x3` for the usual keys; key=value for anything else (table cells)."""
    config = dict(config or {})
    parts = []
    if all(k in config for k in ("BLOCK_M", "BLOCK_N", "BLOCK_K")):
        parts.append("x".join(str(config.pop(k)) for k in ("BLOCK_M", "BLOCK_N", "BLOCK_K")))
    for key, prefix in (("num_warps", "w"), ("num_stages", "s")):
        if key in config:
            parts.append(f"{prefix}{config.pop(key)}")
    if "precision" in config:
        parts.append(str(config.pop("precision")))
    parts.extend(f"{k}={v}" for k, v in config.items())
    return " ".join(parts) or "(defaults)"


def changed_keys(config: Config, other: Config) -> list[str]:
    """The parameters whose values differ between two configs (in `config`'s order)."""
    keys = list(dict.fromkeys([*config, *other]))
    return [k for k in keys if config.get(k) != other.get(k)]


def config_key(config: Config) -> str:
    """A stable text key (sorted) for caches and for comparing configs."""
    return ",".join(f"{k}={config[k]}" for k in sorted(config))


def precision_modes(tunables: list[Any]) -> tuple[str, ...]:
    """The precision values a kernel file's tunables accept (empty: it has no precision)."""
    return next((tuple(t.choices) for t in tunables if t.name == "precision"), ())


def is_pow2(value: object) -> bool:
    """A positive power-of-two int (bools are not numbers here)."""
    return (
        isinstance(value, int)
        and not isinstance(value, bool)
        and value > 0
        and not value & (value - 1)
    )


def check_rules(
    config: Config, gemm: tuple[int, int, int] | None = None, precisions: tuple[str, ...] = ()
) -> list[RuleBreak]:
    """Rule breaks of a config. `gemm` = (M, N, K) of the problem adds the waste rules;
    `precisions` are modes the kernel defines beyond tl.dot's (ours: tf32x3r)."""
    out: list[RuleBreak] = []
    for key, value in config.items():
        upper = key.upper()
        if upper.startswith("BLOCK"):
            if not isinstance(value, int) or not is_pow2(value):
                out.append(
                    RuleBreak(
                        key,
                        f"{key}={value} is not a power of two (Triton's tl.arange needs one)",
                        "error",
                    )
                )
                continue
            if upper.endswith("_K") and value % 8:
                out.append(
                    RuleBreak(
                        key, f"{key}={value}: tensor cores want a multiple of 8 in K", "warning"
                    )
                )
            elif not upper.endswith("_K") and value % 16:
                out.append(
                    RuleBreak(
                        key,
                        f"{key}={value}: tensor cores want a multiple of 16 in M and N",
                        "warning",
                    )
                )
            elif upper.endswith("_K") and value not in (16, 32, 64):
                out.append(
                    RuleBreak(
                        key,
                        f"{key}={value}: fp32 rule of thumb keeps BLOCK_K in 16, 32, 64",
                        "warning",
                    )
                )
            elif upper in ("BLOCK_M", "BLOCK_N") and value not in (32, 64, 128, 256):
                out.append(
                    RuleBreak(
                        key,
                        f"{key}={value}: fp32 rule of thumb keeps BLOCK_M/N in 32..256",
                        "warning",
                    )
                )
        elif key == "num_warps":
            if not isinstance(value, int) or not is_pow2(value) or value > 32:
                out.append(
                    RuleBreak(
                        key, f"num_warps={value} must be a power of two from 1 to 32", "error"
                    )
                )
            elif value > 16:
                out.append(
                    RuleBreak(
                        key, f"num_warps={value}: over 16 warps rarely helps a conv tile", "warning"
                    )
                )
        elif key == "num_stages":
            if not isinstance(value, int) or not 1 <= value <= 8:
                out.append(
                    RuleBreak(
                        key, f"num_stages={value} must be a whole number from 1 to 8", "error"
                    )
                )
        elif key == "precision":
            if not isinstance(value, str):
                out.append(
                    RuleBreak(key, f"precision={value!r} must be a word such as tf32x3", "error")
                )
            elif value not in PRECISIONS and value not in precisions:
                # Kernels may define their own modes (ours: tf32x3r); a bad one fails to compile.
                out.append(
                    RuleBreak(
                        key,
                        f"precision={value!r} is neither one of tl.dot's ({', '.join(PRECISIONS)})"
                        " nor one this kernel defines",
                        "warning",
                    )
                )
            elif value == "tf32":
                out.append(
                    RuleBreak(
                        key,
                        "precision=tf32 errs ~7e-4 and fails KernelBench's fp32 check (1e-4); tf32x3 passes",
                        "warning",
                    )
                )
    if gemm is not None:
        out.extend(_waste_rules(config, gemm))
    return out


def _waste_rules(config: Config, gemm: tuple[int, int, int]) -> list[RuleBreak]:
    out: list[RuleBreak] = []
    for key, size, dim in (
        ("BLOCK_N", gemm[1], "N (output channels per group)"),
        ("BLOCK_K", gemm[2], "K"),
    ):
        value = config.get(key)
        if isinstance(value, int) and is_pow2(value) and value > 2 * size:
            out.append(
                RuleBreak(
                    key,
                    f"{key}={value} is over twice {dim}={size}: most lanes are masked",
                    "warning",
                )
            )
    return out


def errors_in(config: Config) -> list[RuleBreak]:
    return [r for r in check_rules(config) if r.severity == "error"]


def validate(config: Config) -> None:
    """Raise ConfigError with the first hard rule break (the `invalid_config` class)."""
    errors = errors_in(config)
    if errors:
        raise ConfigError(errors[0].message)
