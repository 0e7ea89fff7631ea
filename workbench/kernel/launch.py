"""Intercepting and forcing Triton launches: find a module's kernels, force a config, record one.

A config is applied at *launch time*, so one mechanism serves every kernel file (built-in, user,
exported) without editing its source:
- `force_config(module, config)` makes every launch of the module's kernels use one config: an
  autotuner's config list is pinned to exactly that config, a plain `@triton.jit` launch gets its
  constexpr keyword arguments and `num_warps`/`num_stages` overridden (a grid that is a function of
  META follows), and module constants named by a config key in capitals (the config block export
  rewrites) hold the config's value meanwhile, for a wrapper that reads them on the host;
- `device_redirect(...)` sends `device="cuda"` to the CPU (interpreter) or to `meta` (dry capture),
  so a wrapper written for a GPU runs on a machine without one;
- `recorder(...)` replaces a kernel's `run` to record a launch (signature values, constexprs, grid)
  without executing it: run on meta tensors, a launch is captured without a GPU (what
  `compile.py` needs; `KernelFile.capture_launch` drives it).
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import math
import re
import types
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
import triton
from torch.overrides import TorchFunctionMode
from triton.runtime.autotuner import Autotuner
from triton.runtime.interpreter import InterpretedFunction
from triton.runtime.jit import JITFunction

from workbench.core.config import LAUNCH_KEYS, Config, validate
from workbench.core.errors import ConfigError

BLOCK_NAME = re.compile(r"^[A-Z0-9_]*(BLOCK|TILE)[A-Z0-9_]*$")


# --- plain data -------------------------------------------------------------------------------
@dataclass(frozen=True)
class TensorArg:
    """A tensor argument seen at launch: dtype and shape only (no data exists in a dry capture).

    `data_ptr()` answers Triton's 16-byte alignment question so that Triton's own specialiser
    can be run on this stand-in (real allocations are 256-byte aligned; only an offset view is not).
    """

    dtype: torch.dtype
    shape: tuple[int, ...]
    aligned: bool = True

    def data_ptr(self) -> int:
        return 0 if self.aligned else 4

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize

    def to_json(self) -> dict[str, Any]:
        return {
            "dtype": str(self.dtype).replace("torch.", ""),
            "shape": list(self.shape),
            "aligned": self.aligned,
        }


@dataclass
class Launch:
    """One kernel launch recorded in a dry run (never executed)."""

    kernel: Any  # triton JITFunction
    name: str
    args: dict[str, Any]  # every kernel parameter by name; tensors as TensorArg
    constexprs: dict[str, Any]  # the parameters declared tl.constexpr
    grid: tuple[int, int, int]
    grid_is_function: bool  # False: a tuple computed outside META
    num_warps: int
    num_stages: int
    options: dict[str, Any] = field(default_factory=dict)  # other launch keywords (num_ctas, ...)
    autotune_configs: list[dict] = field(default_factory=list)  # the file's own list, if autotuned

    @property
    def autotuned(self) -> bool:
        return bool(self.autotune_configs)

    @property
    def grid_blocks(self) -> int:
        return self.grid[0] * self.grid[1] * self.grid[2]

    @property
    def tensor_bytes(self) -> int:
        """Every tensor argument's bytes, once (what a helper launch is charged: model v7)."""
        return sum(v.nbytes for v in self.args.values() if isinstance(v, TensorArg))

    def to_json(self) -> dict[str, Any]:
        def plain(v: Any) -> Any:
            if isinstance(v, TensorArg):
                return v.to_json()
            return v if isinstance(v, int | float | str | bool | type(None)) else repr(v)

        return {
            "name": self.name,
            "args": {k: plain(v) for k, v in self.args.items()},
            "constexprs": {k: plain(v) for k, v in self.constexprs.items()},
            "grid": list(self.grid),
            "grid_is_function": self.grid_is_function,
            "num_warps": self.num_warps,
            "num_stages": self.num_stages,
            "options": {k: plain(v) for k, v in self.options.items()},
            "autotuned": self.autotuned,
        }


# --- device redirection -----------------------------------------------------------------------
def _is_cuda(device: Any) -> bool:
    if isinstance(device, torch.device):
        return device.type == "cuda"
    if isinstance(device, str):
        return device.split(":")[0] == "cuda"
    return isinstance(device, int) and not isinstance(device, bool)  # `.to(0)`, `.cuda(0)`


class _DeviceRedirect(TorchFunctionMode):
    """Sends every request for a CUDA tensor to `target` and answers `is_cuda` with True."""

    def __init__(self, target: torch.device) -> None:
        super().__init__()
        self.target = target

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]  # noqa: ANN001
        kwargs = dict(kwargs or {})
        if getattr(func, "__self__", None) is torch.Tensor.is_cuda:  # the property's getter
            return True  # wrappers that branch on is_cuda take their Triton path
        if func is torch.Tensor.cuda:
            return args[0].to(self.target)
        if "device" in kwargs and _is_cuda(kwargs["device"]):
            kwargs["device"] = self.target
        if func is torch.Tensor.to:
            args = tuple(self.target if _is_cuda(a) else a for a in args)
        return func(*args, **kwargs)


@contextlib.contextmanager
def device_redirect(target_device: str | torch.device) -> Iterator[None]:
    """While active, `device="cuda"`, `torch.device("cuda")`, `.cuda()` and `.to("cuda")` go to
    `target_device` ("cpu" for the interpreter, "meta" for a dry capture)."""
    with _DeviceRedirect(torch.device(target_device)):
        yield


# --- finding the kernels of a module ----------------------------------------------------------
_JIT_TYPES = (JITFunction, InterpretedFunction)


def base_kernel(obj: Any) -> Any | None:
    """The JITFunction/InterpretedFunction under autotune/heuristics wrappers (None: not a kernel)."""
    seen = 0
    while obj is not None and seen < 8:
        if isinstance(obj, _JIT_TYPES):
            return obj
        obj = getattr(obj, "fn", None)
        seen += 1
    return None


def _autotuners(obj: Any) -> list[Any]:
    out = []
    while obj is not None and not isinstance(obj, _JIT_TYPES):
        if isinstance(obj, Autotuner):
            out.append(obj)
        obj = getattr(obj, "fn", None)
    return out


def module_kernels(module: types.ModuleType) -> dict[str, Any]:
    """Module-level kernel objects (autotuned or plain) defined in this module, by name."""
    out = {}
    for name, obj in vars(module).items():
        base = base_kernel(obj)
        if base is not None and getattr(base.fn, "__module__", None) == module.__name__:
            out[name] = obj
    return out


def _param_names(base: Any) -> list[str]:
    return list(getattr(base, "arg_names", []))


def _constexpr_names(base: Any) -> list[str]:
    params = getattr(base, "params", None)
    if params is not None:
        return [p.name for p in params if p.is_constexpr]
    # InterpretedFunction keeps no KernelParam list: read the annotations.
    annotations = getattr(base.fn, "__annotations__", {})
    return [n for n, a in annotations.items() if "constexpr" in str(a)]


def _autotune_keys(obj: Any) -> list[str]:
    keys: list[str] = []
    for tuner in _autotuners(obj):
        for cfg in tuner.configs:
            keys.extend(k for k in cfg.kwargs if k not in keys)
    return keys


def is_block_name(name: str) -> bool:
    return bool(BLOCK_NAME.match(name))


def static_tunables(module: types.ModuleType) -> list[str]:
    """Names a config may set for this module, known without a launch."""
    names: list[str] = []
    for obj in module_kernels(module).values():
        base = base_kernel(obj)
        candidates = _autotune_keys(obj) + [
            n for n in _constexpr_names(base) if is_block_name(n) or n == "precision"
        ]
        names.extend(n for n in candidates if n not in names)
    return names + [k for k in LAUNCH_KEYS]


# --- patching launches ------------------------------------------------------------------------
@contextlib.contextmanager
def patched_run(kernel: Any, make: Callable[[Callable], Callable]) -> Iterator[None]:
    """Replace `kernel.run` on this one object (not the class) for the duration."""
    had_own = "run" in vars(kernel)
    previous = vars(kernel).get("run")
    kernel.run = make(kernel.run)
    try:
        yield
    finally:
        if had_own:
            kernel.run = previous
        else:
            del kernel.run


def _bind(base: Any, args: tuple, kwargs: dict) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split a launch into (parameters by name, defaults applied) and launch options."""
    names = _param_names(base)
    params = {k: v for k, v in kwargs.items() if k in names}
    options = {k: v for k, v in kwargs.items() if k not in names}
    signature = getattr(base, "signature", None) or inspect.signature(base.fn)
    bound = signature.bind(*args, **params)
    bound.apply_defaults()
    return dict(bound.arguments), options


def _override_launch(base: Any, overrides: Config) -> Callable[[Callable], Callable]:
    """A `run` wrapper that launches with `overrides` (the ones this kernel has)."""
    names = set(_param_names(base))

    def make(run: Callable) -> Callable:
        def forced_run(*args: Any, grid: Any, warmup: Any, **kwargs: Any) -> Any:
            bound, options = _bind(base, args, kwargs)
            for key, value in overrides.items():
                if key in LAUNCH_KEYS:
                    options[key] = value
                elif key in names:
                    if not callable(grid) and bound.get(key) != value and is_block_name(key):
                        raise ConfigError(fixed_grid_reason(key))
                    bound[key] = value
            return run(grid=grid, warmup=warmup, **bound, **options)

        return forced_run

    return make


def fixed_grid_reason(name: str) -> str:
    return (
        f"{name} is fixed because the grid is a tuple computed outside META:"
        " changing it would leave the grid wrong"
    )


def _pinned_config(tuner: Any, overrides: Config) -> Any:
    """One triton.Config: the autotuner's first config with `overrides` applied."""
    first = tuner.configs[0]
    kwargs = {k: overrides.get(k, v) for k, v in first.kwargs.items()}
    return triton.Config(
        kwargs,
        num_warps=int(overrides.get("num_warps", first.num_warps)),
        num_stages=int(overrides.get("num_stages", first.num_stages)),
        num_ctas=getattr(first, "num_ctas", 1),
        maxnreg=getattr(first, "maxnreg", None),
        pre_hook=getattr(first, "pre_hook", None),
    )


@contextlib.contextmanager
def _pinned(tuner: Any, overrides: Config) -> Iterator[None]:
    configs, cache = tuner.configs, dict(tuner.cache)
    tuner.configs = [_pinned_config(tuner, overrides)]
    tuner.cache.clear()
    try:
        yield
    finally:
        tuner.configs = configs
        tuner.cache.clear()
        tuner.cache.update(cache)


def host_only(module: types.ModuleType, host: Collection[str]) -> list[str]:
    """The config-block names no kernel tunable covers (NUM_WARPS is num_warps, BLOCK_M is
    BLOCK_M), in the block's order: those a config names as they are written in the block."""
    covered = {name.upper() for name in static_tunables(module)}
    return [name for name in host if name.upper() not in covered]


def check_config_keys(module: types.ModuleType, config: Config, host: Collection[str] = ()) -> None:
    """ConfigError for a key no kernel of the module takes (`host`: the file's config-block
    keys, which the wrapper reads on the host)."""
    hosted = host_only(module, host)
    known: set[str] = {*LAUNCH_KEYS, *hosted}
    constexprs: set[str] = set()
    runtime: set[str] = set()
    for obj in module_kernels(module).values():
        base = base_kernel(obj)
        known.update(_autotune_keys(obj))
        constexprs.update(_constexpr_names(base))
        runtime.update(set(_param_names(base)) - set(_constexpr_names(base)))
    listed = static_tunables(module)
    tunables = ", ".join([*listed, *hosted])
    for key in config:
        if key in hosted:
            _check_host_value(module, key, config[key])
            continue
        if key in known or key in constexprs:
            continue
        if key in runtime:
            raise ConfigError(
                f"{key} is a runtime argument of the kernel, not a tl.constexpr; this kernel's"
                f" tunables are {tunables}"
            )
        raise ConfigError(f"unknown parameter {key}; this kernel's tunables are {tunables}")


def _check_host_value(module: types.ModuleType, key: str, value: Any) -> None:
    """A config-block key takes a value of its constant's type: `_config_block` sets nothing
    else, so WG_TILES=abc would be recorded but never run."""
    old = vars(module).get(key, _MISSING)
    if old is _MISSING or type(old) is type(value):
        return
    kind = "a whole number" if isinstance(old, int) else "a word"
    raise ConfigError(f"{key}={value!r} must be {kind}, as the file's {key} = {old!r} is")


_MISSING = object()  # a module constant that is not there


@contextlib.contextmanager
def _config_block(module: types.ModuleType, config: Config) -> Iterator[None]:
    """While active, the module constants named by the config's keys in capitals (the config
    block export rewrites, `bake.py`) hold the config's values, so a wrapper that reads them on
    the host (conv3d_fast3 splits x once per call for `precision=bf16x3p`) does what the exported
    file will."""
    saved: dict[str, Any] = {}
    for key, value in config.items():
        name = key.upper()
        old = vars(module).get(name, _MISSING)
        if type(old) is type(value):  # an int stays an int, a str a str (never a bool or a kernel)
            saved[name] = old
            setattr(module, name, value)
    try:
        yield
    finally:
        for name, old in saved.items():
            setattr(module, name, old)


@contextlib.contextmanager
def force_config(
    module: types.ModuleType, config: Config, host: Collection[str] = ()
) -> Iterator[None]:
    """While active, every launch of `module`'s kernels uses `config` (see module docstring).

    `host`: config-block keys that only the wrapper reads (WG_TILES, TAPS): they set the module
    constant and are never forced into a launch, where a same-named constexpr (ROW_W) holds the
    value the wrapper resolved from them."""
    config = dict(config)
    validate(config)
    check_config_keys(module, config, host)
    hosted = set(host_only(module, host))
    with contextlib.ExitStack() as stack:
        stack.enter_context(_config_block(module, config))
        patched: set[int] = set()
        for obj in module_kernels(module).values():
            tuners = _autotuners(obj)
            for tuner in tuners[:1]:  # the outermost autotuner decides the launched config
                stack.enter_context(_pinned(tuner, config))
            base = base_kernel(obj)
            if id(base) in patched:
                continue
            patched.add(id(base))
            tuned = set(_autotune_keys(obj))
            overrides = {
                k: v
                for k, v in config.items()
                if (k not in tuned or not tuners) and k not in hosted
            }
            if tuners:  # launch keys travel in the pinned triton.Config
                overrides = {k: v for k, v in overrides.items() if k not in LAUNCH_KEYS}
            if overrides:
                stack.enter_context(patched_run(base, _override_launch(base, overrides)))
        yield


# --- capture ----------------------------------------------------------------------------------
def _default_launch_options() -> dict[str, int]:
    try:
        from triton.backends.nvidia.compiler import CUDAOptions

        defaults = {f.name: f.default for f in dataclasses.fields(CUDAOptions)}
        return {"num_warps": int(defaults["num_warps"]), "num_stages": int(defaults["num_stages"])}  # type: ignore[arg-type]
    except Exception:  # a Triton without the NVIDIA backend: its documented defaults
        return {"num_warps": 4, "num_stages": 3}


def _tensor_arg(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        offset_bytes = value.storage_offset() * value.element_size()
        return TensorArg(value.dtype, tuple(value.shape), offset_bytes % 16 == 0)
    return value


def _grid_tuple(grid: Any, meta: dict[str, Any]) -> tuple[int, int, int]:
    resolved = grid(meta) if callable(grid) else grid
    if isinstance(resolved, int):
        resolved = (resolved,)
    dims = [int(g) for g in resolved] + [1, 1, 1]
    return (dims[0], dims[1], dims[2])


def recorder(base: Any, obj: Any, launches: list[Launch]) -> Callable[[Callable], Callable]:
    """A `run` replacement that records the launch and never executes it."""
    constexprs = set(_constexpr_names(base))
    tuners = _autotuners(obj)
    autotune = [
        {**c.kwargs, "num_warps": c.num_warps, "num_stages": c.num_stages}
        for c in (tuners[0].configs if tuners else [])
    ]
    defaults = _default_launch_options()

    def make(_run: Callable) -> Callable:
        def record(*args: Any, grid: Any, warmup: Any, **kwargs: Any) -> None:
            bound, options = _bind(base, args, kwargs)
            grid_3 = _grid_tuple(grid, bound)
            launches.append(
                Launch(
                    kernel=base,
                    name=base.fn.__name__,
                    args={k: _tensor_arg(v) for k, v in bound.items()},
                    constexprs={k: v for k, v in bound.items() if k in constexprs},
                    grid=grid_3,
                    grid_is_function=callable(grid),
                    num_warps=int(options.pop("num_warps", None) or defaults["num_warps"]),
                    num_stages=int(options.pop("num_stages", None) or defaults["num_stages"]),
                    options=options,
                    autotune_configs=autotune,
                )
            )
            return None

        return record

    return make
