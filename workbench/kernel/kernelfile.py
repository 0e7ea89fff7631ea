"""A KernelBench-format kernel file: load it, import it anywhere, force a config, capture a launch.

One mechanism serves the built-in kernel, users' files and exported files alike:
- `import_module(mode)` executes the file into a fresh module, its asserts kept (a user's
  `assert groups == 1` is their message); `assert x.is_cuda` holds under the device redirect;
- `device_redirect(...)` sends `device="cuda"` to the CPU (interpreter) or to `meta` (dry capture);
- `forcing(config)` makes every launch of the file's kernels use one config: an autotuner's config
  list is pinned to exactly that config, a plain `@triton.jit` launch gets its constexpr keyword
  arguments and `num_warps`/`num_stages` overridden (a grid that is a function of META follows);
- `capture_launch(problem, config)` runs `ModelNew.forward` on meta tensors and records the launch
  (signature values, constexprs, grid) without executing it: what `compile.py` needs;
  `helper_launches` the other launches of a steady-state call (what the model charges, v7).

The launch machinery (finding kernels, forcing a config, device redirection, recording a launch)
lives in `workbench.launch`; this module is the file and what it offers to tune.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import itertools
import os
import sys
import traceback
import types
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import triton
import triton.language as tl

from workbench.core.config import LAUNCH_KEYS, PRECISIONS, Config, config_key, is_pow2
from workbench.core.errors import ConfigError, KernelFileError, WorkbenchError
from workbench.core.paths import BUILTIN_KERNEL, cache_root
from workbench.core.problem import Problem
from workbench.core.records import Record
from workbench.kernel.launch import (
    Launch,
    base_kernel,
    device_redirect,
    fixed_grid_reason,
    force_config,
    is_block_name,
    module_kernels,
    patched_run,
    recorder,
)
from workbench.kernel.source_facts import (
    config_block,
    declared_precisions,
    gluon_kernel_names,
    hard_coded_precision,
    is_jit,
)

MODES = ("gpu", "interpreter", "dry")

BLOCK_CHOICES = (16, 32, 64, 128, 256)
BLOCK_K_CHOICES = (8, 16, 32, 64, 128)
WARP_CHOICES = (1, 2, 4, 8, 16)
STAGE_CHOICES = (1, 2, 3, 4, 5)
_module_ids = itertools.count()


# --- plain data -------------------------------------------------------------------------------
@dataclass
class Tunable(Record):
    name: str
    default: int | str
    choices: tuple[int | str, ...]
    kind: str  # "constexpr" | "launch" | "autotune" | "host" (a config-block constant)


# --- the kernel file --------------------------------------------------------------------------
class KernelFile:
    """A loaded kernel file. Cheap to make; the file's code runs only in `import_module`."""

    def __init__(self, path: Path, source: str, code_path: Path | None = None) -> None:
        self.path = path  # what the user calls the file (messages name it)
        self.source = source
        self.code_path = code_path or path  # the file Python and Triton read the code from
        self.sha256 = hashlib.sha256(source.encode()).hexdigest()
        self.name = path.stem
        self.config_block = config_block(source)  # the wrapper's own config constants
        self.gluon_kernels = gluon_kernel_names(source)  # launched on their GPU only
        self._modules: weakref.WeakSet = weakref.WeakSet()
        self._captures: dict[tuple[Any, ...], Launch] = {}
        self._helpers: dict[tuple[Any, ...], list[Launch] | WorkbenchError] = {}
        self._adapted: dict[Problem, KernelFile] = {}
        self.adapter_note = ""  # set on a copy made by for_problem()

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
        if path.is_dir():
            raise KernelFileError(
                f"{path} is a directory: give the path of a kernel .py file in it"
            )
        if not path.is_file():
            what = "the built-in kernel" if path == BUILTIN_KERNEL else "kernel file"
            raise KernelFileError(f"{what} {path} does not exist: give the path of a .py file")
        try:
            source = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise KernelFileError(
                f"kernel file {path} is not UTF-8 text: give a Python source file"
            ) from None
        except OSError as err:
            raise KernelFileError(
                f"cannot read kernel file {path}: {err.strerror or err}"
            ) from None
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
        """A fresh module executed from the file (its asserts kept).

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
        code = compile(self.source, str(self.code_path), "exec")  # user asserts stay
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
                stack.enter_context(force_config(mod, config, self.config_block))
            yield

    device_redirect = staticmethod(device_redirect)

    # --- dry capture ----------------------------------------------------------------------
    # --- ModelNew as KernelBench builds it -------------------------------------------------
    def for_problem(self, problem: Problem) -> KernelFile:
        """This file as it must run on `problem`: itself, or, where `ModelNew(*get_init_inputs())`
        would not build the reference's conv (L1/59's (k, k, 1); Level 2's extra arguments), a
        copy with a ModelNew that maps the init inputs as the reference Model does (what export
        writes). A file that already maps them itself is left alone."""
        if not problem.needs_adapter or self.adapter_note:
            return self
        if problem in self._adapted:
            return self._adapted[problem]
        adapted = self
        if not self._builds_reference_weight(problem):
            from workbench.kernel.bake import add_init_adapter  # bake imports this module's kin

            text = add_init_adapter(self.source, problem, str(self.path))
            adapted = KernelFile.from_source(text, self.path)
            adapted.adapter_note = (
                f"KernelBench builds ModelNew({', '.join(map(repr, problem.model_init_inputs()))})"
                f" and its reference builds nn.Conv3d({', '.join(map(repr, problem.conv_args()))});"
                " this file's ModelNew would build another conv, so trials and export use a"
                " ModelNew that maps the init inputs as the reference does"
            )
        self._adapted[problem] = adapted
        return adapted

    def _builds_reference_weight(self, problem: Problem) -> bool:
        module = self.import_module("dry")
        try:
            with device_redirect("meta"), torch.device("meta"), torch.no_grad():
                model = module.ModelNew(*problem.model_init_inputs())
        except Exception:
            return False
        shapes = {tuple(t.shape) for t in [*model.parameters(), *model.buffers()]}
        # The bias too: L2/6's ModelNew(3, 16, 3, 2) with nn.Conv3d's arguments has the weight's
        # shape but stride 2 and no bias (every Level-2 conv has one).
        wanted = [tuple(problem.weight_shape)] + [(problem.co,)] * problem.bias
        return all(shape in shapes for shape in wanted)

    def capture_launches(self, problem: Problem, config: Config | None = None) -> list[Launch]:
        """Every kernel launch `ModelNew(*init).forward(x)` makes on `problem`, run on meta tensors
        (one call: a first call's failure raises, so there is no later error to report)."""
        return self._capture_calls(problem, config, 1)[0][0]

    def _capture_calls(
        self, problem: Problem, config: Config | None, calls: int
    ) -> tuple[list[list[Launch]], WorkbenchError | None]:
        """(the launches of each call, the error of a call after the first or None): the first
        call's failure, or its launching nothing, raises."""
        adapted = self.for_problem(problem)
        if adapted is not self:
            return adapted._capture_calls(problem, config, calls)
        module = self.import_module("dry")
        launches: list[Launch] = []
        per_call: list[list[Launch]] = []

        def between() -> None:
            per_call.append(list(launches))
            launches.clear()

        later: WorkbenchError | None = None
        with contextlib.ExitStack() as stack:
            stack.enter_context(device_redirect("meta"))
            kernels = module_kernels(module)
            if not kernels:
                raise KernelFileError(f"{self.path}: no module-level @triton.jit kernel to launch")
            done: set[int] = set()
            for obj in kernels.values():
                base = base_kernel(obj)
                if id(base) not in done:
                    done.add(id(base))
                    stack.enter_context(patched_run(base, recorder(base, obj, launches)))
            stack.enter_context(force_config(module, config or {}, self.config_block))
            try:
                self._run_forward(module, problem, calls, between=between)
            except WorkbenchError as err:
                if not per_call:
                    raise
                later = err
            else:
                per_call.append(list(launches))
        if not per_call[0]:
            raise KernelFileError(
                f"{self.path}: ModelNew.forward launched no Triton kernel of this file on"
                f" {problem.label()}"
            )
        return per_call, later

    def capture_launch(self, problem: Problem, config: Config | None = None) -> Launch:
        """The launch to tune: the main kernel, not a helper launch (a weight split, a zeroing).

        Ranked by: autotuned or block sizes under a META grid, a `precision` constexpr, the number
        of block sizes, then the grid's size; the first launch wins a tie. Picked from the first
        of two calls on meta tensors; the second gives `helper_launches`."""
        key = (problem, config_key(config or {}))
        if key not in self._captures:
            per_call, later = self._capture_calls(problem, config, 2)
            self._captures[key] = max(per_call[0], key=_tuning_rank)
            if later is not None:
                self._helpers[key] = later
            else:
                steady = per_call[-1]
                main = max(steady, key=_tuning_rank) if steady else None
                self._helpers[key] = [launch for launch in steady if launch is not main]
        return self._captures[key]

    def helper_launches(self, problem: Problem, config: Config | None = None) -> list[Launch]:
        """The launches one steady-state call makes besides the main one: an input split, a
        weight pack, a shifted copy. From the second of `capture_launch`'s two calls on meta
        tensors, so that work the wrapper caches across calls (a weight packed once per weight
        version) is left out. Raises the second call's error where only the first ran."""
        key = (problem, config_key(config or {}))
        if key not in self._helpers:
            self.capture_launch(problem, config)
        found = self._helpers[key]
        if isinstance(found, WorkbenchError):
            raise found
        return found

    def _run_forward(
        self,
        module: types.ModuleType,
        problem: Problem,
        calls: int = 1,
        between: Callable[[], object] | None = None,
    ) -> None:
        dtype = getattr(torch, problem.dtype)
        try:
            with torch.device("meta"), torch.no_grad():
                model = module.ModelNew(*problem.model_init_inputs())
                x = torch.empty(problem.input_shape, dtype=dtype, device="meta")
                model = model.to(dtype)
                for call in range(max(1, calls)):
                    if call and between is not None:
                        between()
                    model(x)
        except WorkbenchError:
            raise
        except AssertionError as err:  # the user's own check, e.g. `assert groups == 1, "..."`
            said = _one_line(err).removeprefix("AssertionError: ")
            if said == "AssertionError":
                said = "an assert in the kernel file failed (it has no message)"
            raise KernelFileError(f"{self._where(err)}: assertion failed: {said}") from err
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
            if is_block_name(name) and is_pow2(value) and launch.grid_is_function:
                out.append(Tunable(name, value, _block_choices(name, value), "constexpr"))
            elif name == "precision" and isinstance(value, str):
                modes = _with(PRECISIONS, *declared_precisions(self.source), value)
                out.append(Tunable(name, value, modes, "constexpr"))
        out.append(
            Tunable("num_warps", launch.num_warps, _with(WARP_CHOICES, launch.num_warps), "launch")
        )
        out.append(
            Tunable(
                "num_stages", launch.num_stages, _with(STAGE_CHOICES, launch.num_stages), "launch"
            )
        )
        # The rest of the config block: choices the wrapper makes on the host (WG_TILES, TAPS),
        # set by name; only the file's value is known to be valid, so that is the only choice.
        covered = {t.name.upper() for t in out}
        for name, value in self.config_block.items():
            if name.upper() not in covered:
                out.append(Tunable(name, value, (value,), "host"))
        return out

    def untunable(self, problem: Problem) -> dict[str, str]:
        """Parameters that look tunable but are not, with the reason in words."""
        launch = self.capture_launch(problem)
        out: dict[str, str] = {}
        names = {t.name for t in self.tunables(problem)}
        for name, value in launch.constexprs.items():
            if name in names or not is_block_name(name):
                continue
            if not launch.grid_is_function:
                out[name] = fixed_grid_reason(name)
            elif not is_pow2(value):
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
        elif is_block_name(name) and is_pow2(default):
            out.append(
                Tunable(name, default, _with(_block_choices(name, default), *seen), "autotune")
            )
        else:
            out.append(Tunable(name, default, seen, "autotune"))
    if not launch.grid_is_function:  # a tuple grid cannot follow new block sizes
        out = [t for t in out if not is_block_name(t.name)]
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
    blocks = sum(map(is_block_name, launch.constexprs))
    tunable = launch.autotuned or (launch.grid_is_function and blocks > 0)
    return (tunable, "precision" in launch.constexprs, blocks, launch.grid_blocks)


def _precision_reason(launch: Launch) -> str:
    try:
        src = launch.kernel.src if hasattr(launch.kernel, "src") else ""
    except Exception:
        src = ""
    hard = hard_coded_precision(src or "")
    if hard:
        return f"precision is hard-coded ({hard}) in the kernel"
    if "tl.dot" in (src or ""):
        return (
            "precision is Triton's default for tl.dot (tf32 on fp32 inputs): the kernel has no"
            " `precision` tl.constexpr to set"
        )
    return "the kernel has no `precision` tl.constexpr"


@contextlib.contextmanager
def _interpret_knob(on: bool) -> Iterator[None]:
    """`@triton.jit` makes interpreter functions exactly when this knob is on while it runs."""
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
        is_jit(d)
        for n in ast.walk(tree)
        if isinstance(n, ast.FunctionDef)
        for d in n.decorator_list
    ):
        raise KernelFileError(
            f"{path}: no @triton.jit kernel: decorate the kernel with @triton.jit"
        )
