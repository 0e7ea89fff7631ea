"""A KernelBench-format kernel file: load it, import it anywhere, force a config, capture a launch.

One mechanism serves the built-in kernel, users' files and exported files alike:
- `import_module(mode)` executes the file into a fresh module with asserts stripped (`optimize=1`),
  so wrappers that `assert x.is_cuda` still load on a machine without a GPU;
- `device_redirect(...)` sends `device="cuda"` to the CPU (interpreter) or to `meta` (dry capture);
- `forcing(config)` makes every launch of the file's kernels use one config: an autotuner's config
  list is pinned to exactly that config, a plain `@triton.jit` launch gets its constexpr keyword
  arguments and `num_warps`/`num_stages` overridden (a grid that is a function of META follows);
- `capture_launch(problem, config)` runs `ModelNew.forward` on meta tensors and records the launch
  (signature values, constexprs, grid) without executing it: what `compile.py` needs.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import hashlib
import itertools
import os
import re
import sys
import traceback
import types
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

from workbench.config import LAUNCH_KEYS, PRECISIONS, Config, config_key, validate
from workbench.errors import ConfigError, KernelFileError, WorkbenchError
from workbench.problem import Problem

BUILTIN_KERNEL = Path(__file__).resolve().parents[1] / "kernels" / "conv3d_igemm.py"
MODES = ("gpu", "interpreter", "dry")

BLOCK_NAME = re.compile(r"^[A-Z0-9_]*(BLOCK|TILE)[A-Z0-9_]*$")
BLOCK_CHOICES = (16, 32, 64, 128, 256)
BLOCK_K_CHOICES = (8, 16, 32, 64, 128)
WARP_CHOICES = (1, 2, 4, 8, 16)
STAGE_CHOICES = (1, 2, 3, 4, 5)
_HARD_PRECISION = re.compile(
    r"(allow_tf32\s*=\s*\w+|input_precision\s*=\s*['\"]\w+['\"])",
)
_module_ids = itertools.count()


def cache_root() -> Path:
    """Where the workbench keeps its caches: `$CONV3D_BENCH_CACHE` or ~/.cache/conv3d-bench."""
    env = os.environ.get("CONV3D_BENCH_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "conv3d-bench"


# --- plain data -------------------------------------------------------------------------------
@dataclass
class Tunable:
    name: str
    default: int | str
    choices: tuple
    kind: str  # "constexpr" | "launch" | "autotune"

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "choices": list(self.choices)}


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

    def to_dict(self) -> dict:
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

    def to_dict(self) -> dict:
        def plain(v: Any) -> Any:
            if isinstance(v, TensorArg):
                return v.to_dict()
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

    def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: ANN001
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
def _triton_types() -> tuple[type, type, type]:
    from triton.runtime.autotuner import Autotuner
    from triton.runtime.interpreter import InterpretedFunction
    from triton.runtime.jit import JITFunction

    return JITFunction, InterpretedFunction, Autotuner


def _base_kernel(obj: Any) -> Any | None:
    """The JITFunction/InterpretedFunction under autotune/heuristics wrappers (None: not a kernel)."""
    jit_types = _triton_types()[:2]
    seen = 0
    while obj is not None and seen < 8:
        if isinstance(obj, jit_types):
            return obj
        obj = getattr(obj, "fn", None)
        seen += 1
    return None


def _autotuners(obj: Any) -> list[Any]:
    autotuner = _triton_types()[2]
    out = []
    while obj is not None and not isinstance(obj, _triton_types()[:2]):
        if isinstance(obj, autotuner):
            out.append(obj)
        obj = getattr(obj, "fn", None)
    return out


def module_kernels(module: types.ModuleType) -> dict[str, Any]:
    """Module-level kernel objects (autotuned or plain) defined in this module, by name."""
    out = {}
    for name, obj in vars(module).items():
        base = _base_kernel(obj)
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


def _is_block_name(name: str) -> bool:
    return bool(BLOCK_NAME.match(name))


def _is_pow2(value: Any) -> bool:
    return (
        isinstance(value, int)
        and not isinstance(value, bool)
        and value > 0
        and not value & (value - 1)
    )


def static_tunables(module: types.ModuleType) -> list[str]:
    """Names a config may set for this module, known without a launch."""
    names: list[str] = []
    for obj in module_kernels(module).values():
        base = _base_kernel(obj)
        candidates = _autotune_keys(obj) + [
            n for n in _constexpr_names(base) if _is_block_name(n) or n == "precision"
        ]
        names.extend(n for n in candidates if n not in names)
    return names + [k for k in LAUNCH_KEYS]


# --- patching launches ------------------------------------------------------------------------
@contextlib.contextmanager
def _patched_run(kernel: Any, make: Callable[[Callable], Callable]) -> Iterator[None]:
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
    import inspect

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
        def forced_run(*args, grid, warmup, **kwargs):
            bound, options = _bind(base, args, kwargs)
            for key, value in overrides.items():
                if key in LAUNCH_KEYS:
                    options[key] = value
                elif key in names:
                    if not callable(grid) and bound.get(key) != value and _is_block_name(key):
                        raise ConfigError(_fixed_grid_reason(key))
                    bound[key] = value
            return run(grid=grid, warmup=warmup, **bound, **options)

        return forced_run

    return make


def _fixed_grid_reason(name: str) -> str:
    return (
        f"{name} is fixed because the grid is a tuple computed outside META:"
        " changing it would leave the grid wrong"
    )


def _pinned_config(tuner: Any, overrides: Config) -> Any:
    """One triton.Config: the autotuner's first config with `overrides` applied."""
    import triton

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


def check_config_keys(module: types.ModuleType, config: Config) -> None:
    """ConfigError for a key no kernel of the module takes."""
    known: set[str] = set(LAUNCH_KEYS)
    constexprs: set[str] = set()
    runtime: set[str] = set()
    for obj in module_kernels(module).values():
        base = _base_kernel(obj)
        known.update(_autotune_keys(obj))
        constexprs.update(_constexpr_names(base))
        runtime.update(set(_param_names(base)) - set(_constexpr_names(base)))
    tunables = ", ".join(static_tunables(module))
    for key in config:
        if key in known or key in constexprs:
            continue
        if key in runtime:
            raise ConfigError(
                f"{key} is a runtime argument of the kernel, not a tl.constexpr; this kernel's"
                f" tunables are {tunables}"
            )
        raise ConfigError(f"unknown parameter {key}; this kernel's tunables are {tunables}")


@contextlib.contextmanager
def force_config(module: types.ModuleType, config: Config) -> Iterator[None]:
    """While active, every launch of `module`'s kernels uses `config` (see module docstring)."""
    config = dict(config)
    validate(config)
    check_config_keys(module, config)
    with contextlib.ExitStack() as stack:
        patched: set[int] = set()
        for obj in module_kernels(module).values():
            tuners = _autotuners(obj)
            for tuner in tuners[:1]:  # the outermost autotuner decides the launched config
                stack.enter_context(_pinned(tuner, config))
            base = _base_kernel(obj)
            if id(base) in patched:
                continue
            patched.add(id(base))
            tuned = set(_autotune_keys(obj))
            overrides = {k: v for k, v in config.items() if k not in tuned or not tuners}
            if tuners:  # launch keys travel in the pinned triton.Config
                overrides = {k: v for k, v in overrides.items() if k not in LAUNCH_KEYS}
            if overrides:
                stack.enter_context(_patched_run(base, _override_launch(base, overrides)))
        yield


# --- capture ----------------------------------------------------------------------------------
def _default_launch_options() -> dict[str, int]:
    try:
        from triton.backends.nvidia.compiler import CUDAOptions

        defaults = {f.name: f.default for f in dataclasses.fields(CUDAOptions)}
        return {"num_warps": defaults["num_warps"], "num_stages": defaults["num_stages"]}
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


def _recorder(base: Any, obj: Any, launches: list[Launch]) -> Callable[[Callable], Callable]:
    """A `run` replacement that records the launch and never executes it."""
    constexprs = set(_constexpr_names(base))
    tuners = _autotuners(obj)
    autotune = [
        {**c.kwargs, "num_warps": c.num_warps, "num_stages": c.num_stages}
        for c in (tuners[0].configs if tuners else [])
    ]
    defaults = _default_launch_options()

    def make(_run: Callable) -> Callable:
        def record(*args, grid, warmup, **kwargs):
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


# --- the kernel file --------------------------------------------------------------------------
class KernelFile:
    """A loaded kernel file. Cheap to make; the file's code runs only in `import_module`."""

    def __init__(self, path: Path, source: str, code_path: Path | None = None) -> None:
        self.path = path  # what the user calls the file (messages name it)
        self.source = source
        self.code_path = code_path or path  # the file Python and Triton read the code from
        self.sha256 = hashlib.sha256(source.encode()).hexdigest()
        self.name = path.stem
        self._modules: weakref.WeakSet = weakref.WeakSet()
        self._captures: dict[tuple, Launch] = {}

    def __repr__(self) -> str:
        return f"KernelFile({str(self.path)!r}, sha256={self.sha256[:12]})"

    @property
    def is_builtin(self) -> bool:
        return self.path.resolve() == BUILTIN_KERNEL

    # --- loading --------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path | None = None) -> KernelFile:
        """Read and check a kernel file (None: the built-in kernel)."""
        path = Path(path) if path is not None else BUILTIN_KERNEL
        if not path.is_file():
            what = "the built-in kernel" if path == BUILTIN_KERNEL else "kernel file"
            raise KernelFileError(f"{what} {path} does not exist: give the path of a .py file")
        try:
            source = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise KernelFileError(f"cannot read kernel file {path}: {err}") from None
        _check_source(source, path)
        return cls(path, source)

    @classmethod
    def from_source(cls, source: str, original_path: str | Path) -> KernelFile:
        """A kernel from text (e.g. a session's copy of a file that has since changed).

        The text is written to a cache file named by its hash, because `@triton.jit` reads a
        kernel's source back from its file."""
        original = Path(original_path)
        _check_source(source, original)
        digest = hashlib.sha256(source.encode()).hexdigest()
        code_path = cache_root() / "sources" / f"{digest}.py"
        if not code_path.is_file() or code_path.read_text(encoding="utf-8") != source:
            code_path.parent.mkdir(parents=True, exist_ok=True)
            tmp = code_path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(source, encoding="utf-8")
            tmp.replace(code_path)
        return cls(original, source, code_path=code_path)

    # --- importing ------------------------------------------------------------------------
    def import_module(self, mode: str = "gpu") -> types.ModuleType:
        """A fresh module executed from the file, asserts stripped.

        mode: "gpu" (real Triton JIT), "interpreter" (Triton's interpreter; tensors go to the CPU)
        or "dry" (real JIT objects, for meta-tensor capture and compiling for a target).
        """
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if mode == "interpreter" and not _interpreter_ready():
            raise KernelFileError(
                "interpreter mode needs TRITON_INTERPRET=1 in the environment before triton is"
                " imported (Triton's own library functions are made then): run it in a worker"
                " process started with that variable"
            )
        code = compile(self.source, str(self.code_path), "exec", optimize=1)
        name = f"conv3d_bench_kernel_{self.sha256[:12]}_{next(_module_ids)}"
        module = types.ModuleType(name)
        module.__file__ = str(self.code_path)
        sys.modules[name] = module  # dataclasses and Triton look the module up while it runs
        redirect = {"interpreter": "cpu", "dry": "meta"}.get(mode)
        try:
            redirecting = device_redirect(redirect) if redirect else contextlib.nullcontext()
            with _interpret_knob(mode == "interpreter"), redirecting:
                exec(code, module.__dict__)
        except WorkbenchError:
            raise
        except Exception as err:
            raise KernelFileError(
                f"{self._where(err)}: importing the kernel file failed: {_one_line(err)}"
            ) from err
        finally:
            sys.modules.pop(name, None)
        if not isinstance(module.__dict__.get("ModelNew"), type):
            raise KernelFileError(f"{self.path}: ModelNew is not a class after import")
        self._modules.add(module)
        return module

    def _where(self, err: BaseException) -> str:
        """`file:line` of the deepest frame of the error inside this file."""
        line = None
        for frame in traceback.extract_tb(err.__traceback__):
            if frame.filename == str(self.code_path):
                line = frame.lineno
        if isinstance(err, SyntaxError) and err.filename == str(self.code_path):
            line = err.lineno
        return f"{self.path}:{line}" if line else str(self.path)

    # --- applying a config ----------------------------------------------------------------
    @contextlib.contextmanager
    def forcing(self, config: Config, module: types.ModuleType | None = None) -> Iterator[None]:
        """While active, every launch of this file's kernels uses `config`.

        `module`: the module to force (default: every live module `import_module` made)."""
        modules = [module] if module is not None else list(self._modules)
        if not modules:
            raise RuntimeError("forcing() needs a module: call import_module() first")
        with contextlib.ExitStack() as stack:
            for mod in modules:
                stack.enter_context(force_config(mod, config))
            yield

    device_redirect = staticmethod(device_redirect)

    # --- dry capture ----------------------------------------------------------------------
    def capture_launches(self, problem: Problem, config: Config | None = None) -> list[Launch]:
        """Every kernel launch `ModelNew(*init).forward(x)` makes on `problem`, run on meta tensors."""
        module = self.import_module("dry")
        launches: list[Launch] = []
        with contextlib.ExitStack() as stack:
            stack.enter_context(device_redirect("meta"))
            kernels = module_kernels(module)
            if not kernels:
                raise KernelFileError(f"{self.path}: no module-level @triton.jit kernel to launch")
            done: set[int] = set()
            for obj in kernels.values():
                base = _base_kernel(obj)
                if id(base) not in done:
                    done.add(id(base))
                    stack.enter_context(_patched_run(base, _recorder(base, obj, launches)))
            stack.enter_context(force_config(module, config or {}))
            self._run_forward(module, problem)
        if not launches:
            raise KernelFileError(
                f"{self.path}: ModelNew.forward launched no Triton kernel of this file on"
                f" {problem.label()}"
            )
        return launches

    def capture_launch(self, problem: Problem, config: Config | None = None) -> Launch:
        """The launch to tune: the main kernel, not a helper launch (a weight split, a zeroing).

        Ranked by: autotuned or block sizes under a META grid, a `precision` constexpr, the number
        of block sizes, then the grid's size; the first launch wins a tie.
        """
        key = (problem, config_key(config or {}))
        if key not in self._captures:
            launches = self.capture_launches(problem, config)
            self._captures[key] = max(launches, key=_tuning_rank)
        return self._captures[key]

    def _run_forward(self, module: types.ModuleType, problem: Problem) -> None:
        dtype = getattr(torch, problem.dtype)
        try:
            with torch.device("meta"), torch.no_grad():
                model = module.ModelNew(*problem.init_inputs())
                x = torch.empty(problem.input_shape, dtype=dtype, device="meta")
                model = model.to(dtype)
                model(x)
        except WorkbenchError:
            raise
        except NotImplementedError as err:
            raise KernelFileError(
                f"{self._where(err)}: the wrapper needs tensor data ({_one_line(err)}); a launch"
                " captured without a GPU runs on meta tensors, so it may use shapes only"
                " (no .item(), .tolist() or printing values)"
            ) from err
        except Exception as err:
            raise KernelFileError(
                f"{self._where(err)}: ModelNew on meta tensors failed: {_one_line(err)}"
                " (capturing a launch without a GPU runs the wrapper on shapes only)"
            ) from err

    # --- tunables -------------------------------------------------------------------------
    def tunables(self, problem: Problem) -> list[Tunable]:
        """What a config may set for this file on `problem`, with the values it launches with."""
        launch = self.capture_launch(problem)
        if launch.autotuned:
            return _autotune_tunables(launch)
        out = []
        for name, value in launch.constexprs.items():
            if _is_block_name(name) and _is_pow2(value) and launch.grid_is_function:
                out.append(Tunable(name, value, _block_choices(name, value), "constexpr"))
            elif name == "precision" and isinstance(value, str):
                out.append(Tunable(name, value, _with(PRECISIONS, value), "constexpr"))
        out.append(
            Tunable("num_warps", launch.num_warps, _with(WARP_CHOICES, launch.num_warps), "launch")
        )
        out.append(
            Tunable(
                "num_stages", launch.num_stages, _with(STAGE_CHOICES, launch.num_stages), "launch"
            )
        )
        return out

    def untunable(self, problem: Problem) -> dict[str, str]:
        """Parameters that look tunable but are not, with the reason in words."""
        launch = self.capture_launch(problem)
        out: dict[str, str] = {}
        names = {t.name for t in self.tunables(problem)}
        for name, value in launch.constexprs.items():
            if name in names or not _is_block_name(name):
                continue
            if not launch.grid_is_function:
                out[name] = _fixed_grid_reason(name)
            elif not _is_pow2(value):
                out[name] = f"{name}={value!r} is not a power-of-two int, so it is not a tile size"
        if "precision" not in names:
            out["precision"] = _precision_reason(launch)
        return out

    def default_config(self, problem: Problem) -> Config:
        """The values the file launches with (an autotuned file: its first config)."""
        return {t.name: t.default for t in self.tunables(problem)}

    def full_config(self, problem: Problem, config: Config) -> Config:
        """`config` with the file's defaults filled in, in the tunables' order."""
        check_config_keys_for(self, problem, config)
        return {**self.default_config(problem), **config}


def check_config_keys_for(kf: KernelFile, problem: Problem, config: Config) -> None:
    """ConfigError for a key that is not a tunable of `kf` on `problem` (with the reason)."""
    names = [t.name for t in kf.tunables(problem)]
    reasons = kf.untunable(problem)
    for key in config:
        if key in names:
            continue
        if key in reasons:
            raise ConfigError(reasons[key])
        raise ConfigError(f"unknown parameter {key}; this kernel's tunables are {', '.join(names)}")


def _autotune_tunables(launch: Launch) -> list[Tunable]:
    configs = launch.autotune_configs
    first = configs[0]
    out = []
    for name, default in first.items():
        seen = tuple(dict.fromkeys(c[name] for c in configs if name in c))
        if name in LAUNCH_KEYS:
            base = WARP_CHOICES if name == "num_warps" else STAGE_CHOICES
            out.append(Tunable(name, default, _with(base, *seen), "launch"))
        elif _is_block_name(name) and _is_pow2(default):
            out.append(
                Tunable(name, default, _with(_block_choices(name, default), *seen), "autotune")
            )
        else:
            out.append(Tunable(name, default, seen, "autotune"))
    if not launch.grid_is_function:  # a tuple grid cannot follow new block sizes
        out = [t for t in out if not _is_block_name(t.name)]
    return out


def _block_choices(name: str, value: int) -> tuple:
    base = BLOCK_K_CHOICES if name.upper().endswith("_K") else BLOCK_CHOICES
    return _with(base, value)


def _with(choices: tuple, *values: Any) -> tuple:
    """`choices` plus any of `values` not in it, numbers sorted."""
    merged = list(dict.fromkeys([*choices, *values]))
    if all(isinstance(v, int) for v in merged):
        merged.sort()
    return tuple(merged)


def _tuning_rank(launch: Launch) -> tuple[bool, bool, int, int]:
    blocks = sum(map(_is_block_name, launch.constexprs))
    tunable = launch.autotuned or (launch.grid_is_function and blocks > 0)
    return (tunable, "precision" in launch.constexprs, blocks, launch.grid_blocks)


def _precision_reason(launch: Launch) -> str:
    try:
        src = launch.kernel.src if hasattr(launch.kernel, "src") else ""
    except Exception:
        src = ""
    hard = _HARD_PRECISION.search(src or "")
    if hard:
        return f"precision is hard-coded ({hard.group(1).replace(' ', '')}) in the kernel"
    if "tl.dot" in (src or ""):
        return (
            "precision is Triton's default for tl.dot (tf32 on fp32 inputs): the kernel has no"
            " `precision` tl.constexpr to set"
        )
    return "the kernel has no `precision` tl.constexpr"


@contextlib.contextmanager
def _interpret_knob(on: bool) -> Iterator[None]:
    """`@triton.jit` makes interpreter functions exactly when this knob is on while it runs."""
    import triton

    knobs = getattr(triton, "knobs", None)
    if knobs is not None and hasattr(knobs.runtime, "scope"):
        with knobs.runtime.scope():
            knobs.runtime.interpret = on
            yield
        return
    saved = os.environ.get("TRITON_INTERPRET")  # older Triton reads the variable itself
    os.environ["TRITON_INTERPRET"] = "1" if on else "0"
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("TRITON_INTERPRET", None)
        else:
            os.environ["TRITON_INTERPRET"] = saved


def _interpreter_ready() -> bool:
    """Whether triton.language's own @jit helpers were made for the interpreter."""
    import triton.language as tl

    return type(tl.cdiv).__name__ == "InterpretedFunction"


def _one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    first = text[0] if text else ""
    return f"{type(err).__name__}: {first}" if first else type(err).__name__


def _check_source(source: str, path: Path) -> None:
    """The checks a user can act on before anything runs: syntax, ModelNew, a @triton.jit."""
    try:
        tree = ast.parse(source, filename=str(path))
    except SyntaxError as err:
        raise KernelFileError(f"{path}:{err.lineno}: syntax error: {err.msg}") from None
    classes = {n.name for n in ast.walk(tree) if isinstance(n, ast.ClassDef)}
    if "ModelNew" not in classes:
        raise KernelFileError(
            f"{path}: no class ModelNew: a KernelBench-format file defines `class ModelNew(nn.Module)`"
        )
    if not any(
        _is_jit(d)
        for n in ast.walk(tree)
        if isinstance(n, ast.FunctionDef)
        for d in n.decorator_list
    ):
        raise KernelFileError(
            f"{path}: no @triton.jit kernel: decorate the kernel with @triton.jit"
        )


def _is_jit(decorator: ast.expr) -> bool:
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    if isinstance(target, ast.Attribute):
        return target.attr == "jit"
    return isinstance(target, ast.Name) and target.id == "jit"
