"""A KernelBench problem file (`class Model`, `get_inputs()`, `get_init_inputs()`) as a problem.

`--problem FILE.py` works wherever a problem id does. The file's one nn.Conv3d gives the conv
shape that is compiled and whose occupancy is shown; for correctness the reference is the file's
own Model, built as KernelBench builds it (`torch.manual_seed(42); Model(*get_init_inputs())` on
the CPU). A Model that does more than the conv (Level 2) is the reference as a whole, so a
ModelNew that computes only the conv fails there, and says why.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import itertools
import sys
import types
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from workbench.core import kernelbench
from workbench.core.errors import ProblemError
from workbench.core.jsonio import atomic_write_text
from workbench.core.paths import PROJECT_ROOT, cache_root, portable_path
from workbench.core.problem import Problem, bind_params

_ids = itertools.count()
REST_OF_MODEL = "the rest of the file's Model.forward after the conv"


def looks_like_problem_file(text: str | None) -> bool:
    return bool(text) and str(text).endswith(".py")


class ProblemFile:
    """A loaded problem file. Its code runs only when a method needs it."""

    def __init__(self, path: Path, source: str, code_path: Path | None = None) -> None:
        self.path = path
        self.source = source
        self.code_path = code_path or path
        self.sha256 = hashlib.sha256(source.encode()).hexdigest()
        self._module: types.ModuleType | None = None

    @classmethod
    def load(cls, path: str | Path) -> ProblemFile:
        path = Path(path)
        if path.is_dir():
            raise ProblemError(f"{path} is a directory: give a KernelBench problem .py file")
        if not path.is_file():
            raise ProblemError(
                f"problem file {path} does not exist: give a KernelBench problem .py file or an id like L1/66"
            )
        try:
            source = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise ProblemError(f"cannot read problem file {path}: {err}") from None
        _check_source(source, path)
        return cls(path, source)

    @classmethod
    def from_source(cls, source: str, path: str | Path) -> ProblemFile:
        """A problem file from its text (in a worker): written where its code can be read back."""
        digest = hashlib.sha256(source.encode()).hexdigest()
        code_path = cache_root() / "problems" / f"{digest}.py"
        if not code_path.is_file():
            code_path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(code_path, source)
        return cls(Path(path), source, code_path)

    @classmethod
    def for_problem(cls, problem: Problem) -> ProblemFile | None:
        """The file a problem came from (None for a preset or spec); refuses a changed file."""
        if not problem.file_sha256:
            return None
        recorded = Path(problem.origin)
        in_project = PROJECT_ROOT / recorded  # where portable_path() left it relative
        pf = cls.load(
            in_project if not recorded.is_absolute() and in_project.is_file() else recorded
        )
        if pf.sha256 != problem.file_sha256:
            raise ProblemError(
                f"problem file {problem.origin} changed since it was recorded (sha256"
                f" {pf.sha256[:12]}, recorded {problem.file_sha256[:12]}): restore it, or start a new session"
            )
        return pf

    # --- running its code -------------------------------------------------------------------
    def module(self) -> types.ModuleType:
        if self._module is None:
            name = f"conv3d_bench_problem_{self.sha256[:12]}_{next(_ids)}"
            module = types.ModuleType(name)
            module.__file__ = str(self.code_path)
            sys.modules[name] = module
            try:
                exec(compile(self.source, str(self.code_path), "exec"), module.__dict__)
            except Exception as err:
                raise ProblemError(
                    f"{self.path}: importing the problem file failed: {_one_line(err)}"
                ) from err
            finally:
                sys.modules.pop(name, None)
            self._module = module
        return self._module

    def init_inputs(self) -> list[Any]:
        try:
            values = list(self.module().get_init_inputs())
        except ProblemError:
            raise
        except Exception as err:
            raise ProblemError(f"{self.path}: get_init_inputs() raised {_one_line(err)}") from err
        return values

    def build_model(self, device: str | None = None) -> torch.nn.Module:
        """`torch.manual_seed(42); Model(*get_init_inputs())`, as KernelBench builds it."""
        init = self.init_inputs()
        try:
            with torch.device(device) if device else _no_device():
                torch.manual_seed(kernelbench.SEED)
                model = self.module().Model(*init)
        except Exception as err:
            raise ProblemError(
                f"{self.path}: Model(*get_init_inputs()) raised {_one_line(err)}"
            ) from err
        if not isinstance(model, torch.nn.Module):
            raise ProblemError(f"{self.path}: Model(...) is not a torch.nn.Module")
        return model

    def input_shapes(self) -> list[tuple[int, ...]]:
        try:
            with torch.device("meta"):
                inputs = list(self.module().get_inputs())
        except Exception as err:
            raise ProblemError(f"{self.path}: get_inputs() raised {_one_line(err)}") from err
        shapes = [tuple(t.shape) for t in inputs if isinstance(t, torch.Tensor)]
        if len(shapes) != 1 or len(shapes[0]) != 5:
            raise ProblemError(
                f"{self.path}: get_inputs() must give one 5-D tensor (N, C, D, H, W); it gave {shapes or inputs!r}"
            )
        return shapes

    # --- as a problem -----------------------------------------------------------------------
    def problem(self) -> Problem:
        model = self.build_model("meta")
        convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv3d)]
        if not convs:
            raise ProblemError(
                f"{self.path}: its Model has no nn.Conv3d: the workbench tunes conv3d kernels"
            )
        if len(convs) > 1:
            raise ProblemError(
                f"{self.path}: its Model has {len(convs)} nn.Conv3d modules; the workbench tunes one conv per problem"
            )
        conv = convs[0]
        if conv.padding_mode != "zeros" or isinstance(conv.padding, str):
            raise ProblemError(
                f"{self.path}: the conv's padding {conv.padding!r} ({conv.padding_mode}) is not supported; use numbers"
            )
        (shape,) = self.input_shapes()
        n, ci, d, h, w = shape
        if ci != conv.in_channels:
            raise ProblemError(
                f"{self.path}: get_inputs() has {ci} channels, the conv expects {conv.in_channels}"
            )
        init = self.init_inputs()
        kernel, stride, padding, dilation = (
            _three(conv.kernel_size), _three(conv.stride), _three(conv.padding), _three(conv.dilation)
        )  # fmt: skip
        conv_args = (
            conv.in_channels,
            conv.out_channels,
            kernel,
            stride,
            padding,
            dilation,
            conv.groups,
            conv.bias is not None,
        )
        standard = _standard_conv(init) == conv_args
        # As literals, (1, 1, 1) is written 1: a ModelNew that checks `stride != 1` takes it.
        literals = tuple(_plain(v) if isinstance(v, tuple) else v for v in conv_args)
        params = tuple(
            _param_text(p)
            for p in list(inspect.signature(self.module().Model.__init__).parameters.values())[1:]
        )
        problem = Problem(
            n=n, ci=ci, co=conv.out_channels, d=d, h=h, w=w, kernel=kernel,
            stride=stride, padding=padding, dilation=dilation, groups=conv.groups,
            bias=conv.bias is not None, name=self.path.stem, init_inputs=tuple(init),
            model_params=() if standard else params,
            model_conv=() if standard else literals,
            origin=portable_path(self.path) or str(self.path), file_sha256=self.sha256,
        )  # fmt: skip
        small = (1, *problem.reduced().input_shape[1:])
        if self._does_more_than_conv(model, conv, shape, small):
            problem = replace(problem, ops=(REST_OF_MODEL,))
        return problem

    def _does_more_than_conv(
        self,
        model: torch.nn.Module,
        conv: torch.nn.Conv3d,
        shape: tuple[int, ...],
        small: tuple[int, ...],
    ) -> bool:
        """Whether forward is more than the conv: other parameters or modules, another output
        shape (on meta tensors), or other values on a `small` CPU input (L2/47's mish and tanh
        have neither parameters nor a shape of their own)."""
        extra = [p for p in model.parameters() if all(p is not q for q in conv.parameters())]
        modules = [m for m in model.modules() if m is not model and m is not conv]
        if extra or modules:
            return True
        try:
            with torch.no_grad():
                out = model(torch.empty(shape, device="meta"))
                alone = conv(torch.empty(shape, device="meta"))
            if not isinstance(out, torch.Tensor) or tuple(out.shape) != tuple(alone.shape):
                return True
            with torch.random.fork_rng(devices=[]), torch.no_grad():  # the caller's RNG untouched
                cpu_model = self.build_model()
                cpu_conv = next(m for m in cpu_model.modules() if isinstance(m, torch.nn.Conv3d))
                x = torch.rand(small)
                out, alone = cpu_model(x), cpu_conv(x)
        except Exception:
            return True  # a forward that cannot run here: treat it as more than the conv
        return not isinstance(out, torch.Tensor) or not torch.equal(out, alone)


def _three(value: Any) -> tuple[int, int, int]:
    a, b, c = (int(v) for v in value)
    return (a, b, c)


def _plain(value: tuple[int, int, int]) -> int | tuple[int, int, int]:
    return value[0] if len(set(value)) == 1 else value


def _standard_conv(init: list[Any]) -> tuple[Any, ...] | None:
    """What a ModelNew with KernelBench's Level-1 constructor (nn.Conv3d's arguments, but
    bias=False by default) builds from `init`, or None when init does not fit it."""
    if len(init) > len(kernelbench.L1_PARAMS):
        return None
    try:
        values = bind_params(kernelbench.L1_PARAMS, init)
        with torch.device("meta"):
            c = torch.nn.Conv3d(*(values[name] for name in kernelbench.L1_CONV))
    except Exception:
        return None
    return (
        c.in_channels, c.out_channels, tuple(c.kernel_size), tuple(c.stride),
        tuple(c.padding), tuple(c.dilation), c.groups, c.bias is not None,
    )  # fmt: skip


def _param_text(p: inspect.Parameter) -> str:
    return p.name if p.default is inspect.Parameter.empty else f"{p.name}={p.default!r}"


class _no_device:  # noqa: N801 - a context manager that changes nothing
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def _check_source(source: str, path: Path) -> None:
    try:
        tree = ast.parse(source, filename=str(path))
    except SyntaxError as err:
        raise ProblemError(f"{path}:{err.lineno}: syntax error: {err.msg}") from None
    names = {n.name for n in tree.body if isinstance(n, ast.ClassDef | ast.FunctionDef)}
    for needed, what in (("Model", "class Model(nn.Module)"), ("get_inputs", "def get_inputs()"),
                         ("get_init_inputs", "def get_init_inputs()")):  # fmt: skip
        if needed not in names:
            raise ProblemError(
                f"{path}: no {what}: a KernelBench problem file defines Model, get_inputs and get_init_inputs"
            )


def _one_line(err: BaseException) -> str:
    lines = [ln.strip() for ln in str(err).strip().splitlines() if ln.strip()]
    return f"{type(err).__name__}: {lines[0]}" if lines else type(err).__name__


def load_problem(text: str | None) -> Problem:
    """What `--problem` names: a KernelBench problem file (`*.py`), a preset id or a spec
    (None: the default problem)."""
    from workbench.core.problem import parse_problem

    if text is not None and not text.strip():
        raise ProblemError(
            "--problem is empty: name a KernelBench id such as L1/66, a problem file, or a spec"
        )
    if text is not None and (text.strip().endswith(".py") or Path(text).is_dir()):
        return ProblemFile.load(text.strip()).problem()
    return parse_problem(text)
