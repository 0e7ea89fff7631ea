"""Compile a kernel file's launch for a target GPU without one: real Triton, resources from the cubin.

The launch is captured on meta tensors (kernelfile.capture_launch), specialised by Triton's own
binder for the target's backend (so signature, constexprs and divisibility/`== 1` specialisations
are the ones a real launch on that problem gets), and compiled with `triton.compile(...,
target=GPUTarget("cuda", 89, 32))`. Registers, stack and local memory come from the cubin via the
`cuobjdump` Triton bundles; shared memory from Triton's metadata (what the launch asks for).
Results are cached as JSON under ~/.cache/conv3d-bench/compile/ (or $CONV3D_BENCH_CACHE).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import subprocess
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import triton
from triton import knobs
from triton.backends.compiler import GPUTarget
from triton.compiler.compiler import ASTSource, make_backend
from triton.compiler.errors import CompilationError
from triton.runtime.jit import JITFunction, create_function_from_signature

from workbench.core.config import Config
from workbench.core.errors import CompileError, OutOfResources
from workbench.core.gpus import GPU
from workbench.core.jsonio import read_json, write_json
from workbench.core.paths import cache_root
from workbench.core.problem import Problem
from workbench.core.records import Resources, SharedAccess
from workbench.kernel.kernelfile import KernelFile
from workbench.kernel.launch import Launch
from workbench.kernel.sass import SassError, instruction_mix
from workbench.kernel.shared_banks import shared_accesses

try:
    from triton.runtime.errors import OutOfResources as TritonOutOfResources
except ImportError:  # pragma: no cover - older Triton
    TritonOutOfResources = None

CACHE_SCHEMA = 4  # 3: resources carry the shared-memory accesses (TTGIR layouts, bank conflicts);
# 4: an FMA dot's operand reads counted (their layouts from the dot's blocked parent)
_RESOURCE_LINE = re.compile(r"REG:(\d+)\s+STACK:(\d+)\s+SHARED:(\d+)\s+LOCAL:(\d+)")


def compile_cache_dir() -> Path:
    return cache_root() / "compile"


# --- specialisation ---------------------------------------------------------------------------
@dataclass
class Specialised:
    """What Triton's launcher would hand to `triton.compile` for this launch on this target."""

    signature: dict
    constexprs: dict
    attrs: dict
    options: Any  # the backend's options object
    target: Any  # GPUTarget


def gpu_target(gpu: GPU) -> Any:
    return GPUTarget("cuda", gpu.cc[0] * 10 + gpu.cc[1], 32)


def specialise(launch: Launch, gpu: GPU) -> Specialised:
    """Run Triton's own argument specialiser for the target's backend (no device needed)."""
    target = gpu_target(gpu)
    backend = make_backend(target)
    fn = launch.kernel
    kwargs: dict[str, Any] = {
        **launch.args,
        **launch.options,
        "num_warps": launch.num_warps,
        "num_stages": launch.num_stages,
    }
    # The extra options JITFunction.run adds in this Triton version (absent in older ones).
    kwargs["debug"] = kwargs.get("debug", getattr(fn, "debug", None)) or knobs.runtime.debug
    for name in ("instrumentation_mode", "fpsan_homomorphic_casts"):
        if hasattr(knobs.compilation, name):
            kwargs[name] = getattr(knobs.compilation, name)
    binder = create_function_from_signature(fn.signature, fn.params, backend)
    with _quiet_triton():
        bound_args, specialization, options = binder(**kwargs)
        options, signature, constexprs, attrs = fn._pack_args(
            backend, kwargs, bound_args, specialization, options
        )
    return Specialised(signature, constexprs, attrs, options, target)


@contextlib.contextmanager
def _quiet_triton() -> Iterator[None]:
    """Triton 3.9 warns once that its FP-fusion default will change; a real launch would say
    the same, and the workbench's output is no place for it."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*TRITON_DEFAULT_FP_FUSION")
        yield


def _stable(value: Any) -> Any:
    """A JSON-able, stable form of specialisation values (tuples as keys, dtypes, constexprs)."""
    if isinstance(value, dict):
        return {str(k): _stable(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, list | tuple):
        return [_stable(v) for v in value]
    if isinstance(value, int | float | str | bool | type(None)):
        return value
    return repr(value)


def cache_key(kf: KernelFile, launch: Launch, spec: Specialised) -> str:
    payload = {
        "schema": CACHE_SCHEMA,
        "source": kf.sha256,
        "kernel": launch.name,
        "signature": _stable(spec.signature),
        "constexprs": _stable(spec.constexprs),
        "attrs": _stable(spec.attrs),
        "target": [spec.target.backend, spec.target.arch, spec.target.warp_size],
        "options": _stable(
            {k: v for k, v in vars(spec.options).items() if k not in ("extern_libs",)}
        ),
        "triton": triton.__version__,
    }
    text = json.dumps(payload, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


# --- compile ----------------------------------------------------------------------------------
def compile_for_target(
    kf: KernelFile, problem: Problem, config: Config, gpu: GPU
) -> tuple[Resources, Launch]:
    """Compile `kf` with `config` for the launch it makes on `problem`, for `gpu` (no GPU needed).

    Raises CompileError (file:line) or OutOfResources (shared memory over the per-block limit).
    """
    launch = kf.capture_launch(problem, config)
    spec = specialise(launch, gpu)
    key = cache_key(kf, launch, spec)
    path = compile_cache_dir() / f"{key}.json"
    resources = _read_cache(path)
    if resources is None:
        with _quiet_triton():
            resources = _compile(kf, launch, spec, gpu)
        _write_cache(path, resources)
    _check_shared(resources, gpu)
    return resources, launch


def cached_compile(
    kf: KernelFile, problem: Problem, config: Config, gpu: GPU
) -> tuple[Resources, Launch] | None:
    """compile_for_target's answer when the compile cache holds it, else None; never compiles
    (the TUI reads a cached config in-process and sends only real compiles to a worker)."""
    launch = kf.capture_launch(problem, config)
    spec = specialise(launch, gpu)
    resources = _read_cache(compile_cache_dir() / f"{cache_key(kf, launch, spec)}.json")
    if resources is None:
        return None
    _check_shared(resources, gpu)
    return resources, launch


def shared_accesses_for_target(
    kf: KernelFile, problem: Problem, config: Config, gpu: GPU
) -> list[SharedAccess] | None:
    """The TTGIR's shared-memory accesses of `config` compiled for `gpu`: from the compile cache
    where the full compile is there, else from a compile that stops at the TTGIR (no PTX, no
    ptxas: what a recorded session's trial needs to see its bank conflicts; cached too).
    Raises CompileError as compile_for_target does."""
    launch = kf.capture_launch(problem, config)
    spec = specialise(launch, gpu)
    key = cache_key(kf, launch, spec)
    full = _read_cache(compile_cache_dir() / f"{key}.json")
    if full is not None:
        return full.shared_accesses
    path = compile_cache_dir() / f"ttgir-{key}.json"
    data = read_json(path)
    if isinstance(data, dict) and isinstance(data.get("shared_accesses"), list):
        return [SharedAccess.from_json(a) for a in data["shared_accesses"]]
    with _quiet_triton():
        try:
            ttgir = _ttgir(launch, spec)
        except Exception as err:
            raise _as_workbench_error(err, kf, launch, gpu) from err
    accesses = _accesses_or_none(ttgir)
    if accesses is not None:
        write_json(path, {"shared_accesses": [a.to_json() for a in accesses]})
    return accesses


def _accesses_or_none(ttgir: object) -> list[SharedAccess] | None:
    """The TTGIR's shared-memory accesses; None (unknown: no bank-conflict term) where there is
    no TTGIR text or this parser cannot read it."""
    if not isinstance(ttgir, str):
        return None
    try:
        return shared_accesses(ttgir)
    except (ValueError, KeyError, IndexError, ZeroDivisionError):
        return None


def _ttgir(launch: Launch, spec: Specialised) -> str:
    """Triton's pipeline (triton.compile's stages, this Triton's backend) up to the TTGIR."""
    from triton._C.libtriton import ir

    src = ASTSource(launch.kernel, spec.signature, spec.constexprs, spec.attrs)
    backend = make_backend(spec.target)
    options = backend.parse_options(dict(vars(spec.options), **src.parse_options()))
    context = ir.context()
    ir.load_dialects(context)
    backend.load_dialects(context)
    module = src.make_ir(
        spec.target,
        options,
        backend.get_codegen_implementation(options),
        backend.get_module_map(),
        context,
    )
    stages: dict[str, Any] = {}
    backend.add_stages(stages, options, src.language)
    metadata: dict[str, Any] = {"target": spec.target, **options.__dict__}
    for ext, stage in stages.items():
        module = stage(module, metadata)
        if ext == "ttgir":
            return str(module)
    raise CompileError(f"{launch.name}: this Triton's pipeline has no TTGIR stage")


def _read_cache(path: Path) -> Resources | None:
    data = read_json(path)
    if data is None:
        return None  # missing or unreadable: compile again
    try:
        resources = Resources.from_json(data)
    except (TypeError, ValueError):
        return None
    resources.cached = True
    return resources


def _write_cache(path: Path, resources: Resources) -> None:
    write_json(path, resources)  # atomic: concurrent readers never see half a file


def _compile(kf: KernelFile, launch: Launch, spec: Specialised, gpu: GPU) -> Resources:
    start = time.perf_counter()
    try:
        src = ASTSource(launch.kernel, spec.signature, spec.constexprs, spec.attrs)
        compiled = triton.compile(src, target=spec.target, options=vars(spec.options))
    except Exception as err:
        raise _as_workbench_error(err, kf, launch, gpu) from err
    elapsed = time.perf_counter() - start
    cubin = compiled.asm["cubin"]
    usage = cubin_resource_usage(cubin)
    shared = int(compiled.metadata.shared)
    try:  # the performance model's input; a kernel without it is still inspected
        mix: dict[str, Any] | None = instruction_mix(cubin).to_json()
    except SassError:
        mix = None
    accesses = _accesses_or_none(compiled.asm.get("ttgir"))  # the model's bank-conflict term
    return Resources(
        kernel_name=launch.name,
        target_sm=gpu.sm,
        registers=usage["REG"],
        spill_bytes=usage["STACK"] + usage["LOCAL"],
        local_bytes=usage["LOCAL"],
        stack_bytes=usage["STACK"],
        shared_bytes=shared,
        num_warps=int(compiled.metadata.num_warps),
        num_stages=int(compiled.metadata.num_stages),
        compile_s=round(elapsed, 3),
        cached=False,
        triton_version=triton.__version__,
        instruction_mix=mix,
        shared_accesses=accesses,
    )


def _check_shared(resources: Resources, gpu: GPU) -> None:
    limit = gpu.arch.max_shared_per_block_optin
    if resources.shared_bytes > limit:
        raise OutOfResources(
            f"out of resources: shared memory {resources.shared_bytes} B > {limit} B per block on"
            f" {gpu.name}; lower BLOCK_* or num_stages"
        )


def cuobjdump_path() -> Path:
    return Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / "cuobjdump"


def cubin_resource_usage(cubin: bytes) -> dict[str, int]:
    """REG, STACK, SHARED, LOCAL of the cubin's kernel, from `cuobjdump --dump-resource-usage`."""
    tool = cuobjdump_path()
    with tempfile.NamedTemporaryFile(suffix=".cubin") as f:
        f.write(cubin)
        f.flush()
        out = subprocess.run(
            [str(tool), "--dump-resource-usage", f.name],
            capture_output=True,
            text=True,
            check=False,
        )
    match = _RESOURCE_LINE.search(out.stdout)
    if out.returncode != 0 or match is None:
        raise CompileError(
            f"cannot read resource usage from the cubin ({tool} said: "
            f"{(out.stderr or out.stdout).strip()[:200]})"
        )
    reg, stack, shared, local = map(int, match.groups())
    return {"REG": reg, "STACK": stack, "SHARED": shared, "LOCAL": local}


# --- errors -----------------------------------------------------------------------------------
def _as_workbench_error(
    err: Exception, kf: KernelFile, launch: Launch, gpu: GPU
) -> CompileError | OutOfResources:
    if TritonOutOfResources is not None and isinstance(err, TritonOutOfResources):
        return OutOfResources(
            f"out of resources on {gpu.name}: {str(err).strip().splitlines()[0]};"
            " lower BLOCK_* or num_stages"
        )
    chain = _causes(err)
    located = [e for e in chain if isinstance(e, CompilationError)]
    if located:
        return CompileError(_compilation_message(located, kf, launch))
    first = str(err).strip().splitlines()
    return CompileError(
        f"{kf.path}: {launch.name} does not compile for {gpu.sm}: {type(err).__name__}:"
        f" {first[0] if first else ''}".rstrip()
    )


def _causes(err: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    link: BaseException | None = err
    while link is not None and link not in out:
        out.append(link)
        link = link.__cause__ or link.__context__
    return out


def _compilation_message(errors: list, kf: KernelFile, launch: Launch) -> str:
    """`file:line: message` at the deepest error inside a @triton.jit function of this file."""
    functions = _jit_functions(launch)
    best = None
    for e in errors:  # outermost first: keep the deepest one we can place in the file
        fn = functions.get(e.src)
        if fn is not None and getattr(e.node, "lineno", None) is not None:
            best = (e, fn)
    messages = [e.error_message for e in reversed(errors) if e.error_message]
    text = (messages[0] if messages else str(errors[0])).strip().splitlines()
    detail = text[0] if text else "compilation error"
    if best is None:
        return f"{kf.path}: {launch.name} does not compile: {detail}"
    e, fn = best
    line = _def_line(fn) + e.node.lineno - 1
    return f"{kf.path}:{line}: {detail}"


def _def_line(fn: Any) -> int:
    """The file line of a @triton.jit function's `def` (the AST's line 1)."""
    line = getattr(fn, "def_file_line_number", None)
    if line is not None:
        return int(line)
    # Triton 3.6 has only the first line of the source, its decorators included.
    src = getattr(fn, "raw_src", None) or []
    above = next((i for i, text in enumerate(src) if text.strip().startswith("def ")), 0)
    return int(getattr(fn, "starting_line_number", 1)) + above


def _jit_functions(launch: Launch) -> dict[str, Any]:
    """@triton.jit functions of the launch's module, by source text."""
    scope = getattr(launch.kernel, "__globals__", {})
    found = {launch.kernel.src: launch.kernel}
    for value in list(scope.values()):
        if isinstance(value, JITFunction) and value.__module__ == launch.kernel.__module__:
            found.setdefault(value.src, value)
    return found
