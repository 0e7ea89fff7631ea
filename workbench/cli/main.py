"""The `conv3d-bench` command: parse the arguments, run one verb, turn errors into exit codes.

Exit status, for every verb: 0 success (for `bench`: a correct trial), 1 a trial or replay that
ran and failed, 2 a usage error (a bad value, file, problem, GPU, config, session or path), each
as one line on stderr. Every error a user can cause is a WorkbenchError, caught here only.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from workbench.core.errors import WorkbenchError
from workbench.core.gpus import GPUS

DESCRIPTION = """\
Find the fastest correct config of a Triton conv3d kernel (a KernelBench-format file) for a
target GPU you may not have, by default the RTX 4090: compile it for the target on any machine
and see its registers, spills, shared memory and occupancy; check it against PyTorch the way
KernelBench does and time it (on a GPU, or in Triton's interpreter on the CPU); keep every trial
in a session, sweep a search space, export the winner, replay a session elsewhere."""
EPILOG = (
    "Problems: KernelBench ids like L1/66, a KernelBench problem file (path.py), or a spec"
    " N=..,Ci=..,Co=..,D=..,H=..,W=..,k=3x5x7. GPUs: " + ", ".join(GPUS) + " (default 4090)."
    " Exit status: 0 ok, 1 a failed or wrong trial, 2 a usage error."
)
DEFAULT_TIMEOUTS = "default: 90 s in the interpreter, 240 s on a GPU, 180 s for a compile"


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line that names the fix (and exits 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"error: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(2)


def positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0 or value != value:
        raise argparse.ArgumentTypeError(f"{text} must be more than 0 seconds")
    return value


def _problem_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--problem",
        "-p",
        default=None,
        help="KernelBench id (L1/66), problem file (.py) or spec (default L1/66)",
    )


def _gpu_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--gpu", "-g", default=None, help="target GPU to compile for (default 4090)")


def _kernel_args(p: argparse.ArgumentParser, config: bool = True) -> None:
    p.add_argument(
        "kernel", nargs="?", help="kernel file (default: the built-in kernels/conv3d_igemm.py)"
    )
    _problem_arg(p)
    _gpu_arg(p)
    if config:
        p.add_argument(
            "--config",
            "-c",
            default="",
            help="BLOCK_M=128,BLOCK_N=64,...,num_warps=8,num_stages=2,precision=tf32x3",
        )
    p.add_argument("--json", action="store_true", help="print one JSON object instead of tables")


def _timeout_arg(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument(
        "--timeout",
        type=positive_seconds,
        default=None,
        help=f"seconds per {what} before its worker is ended ({DEFAULT_TIMEOUTS})",
    )


def _sweep_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "kernel", nargs="?", help="kernel file (default: the built-in kernels/conv3d_igemm.py)"
    )
    p.add_argument(
        "--problem",
        "-p",
        default=None,
        help="KernelBench id (L1/66), problem file (.py) or spec (default L1/66)",
    )
    p.add_argument("--gpu", "-g", default=None, help="target GPU to compile for (default 4090)")
    p.add_argument(
        "--space",
        default="",
        help="values per key and restrictions: 'BLOCK_M=32,64,128;num_warps=4,8;BLOCK_M*BLOCK_N<=16384' (default: the user's stage rules)",
    )
    p.add_argument(
        "--strategy",
        choices=("grid", "random", "guided"),
        default="grid",
        help="grid: every config; random: --budget N of them; guided: the model's picks, refined as it measures",
    )
    p.add_argument(
        "--budget", type=int, default=None, help="how many configs to measure (random, guided)"
    )
    p.add_argument(
        "--time-budget",
        type=float,
        default=None,
        metavar="S",
        help="stop measuring after S seconds",
    )
    p.add_argument(
        "--top",
        type=int,
        default=5,
        metavar="K",
        help="configs given KernelBench's full protocol (GPU) or checked in the interpreter (default 5)",
    )
    p.add_argument(
        "--mode",
        choices=("auto", "gpu", "interpreter", "compile"),
        default="auto",
        help="auto: a GPU if there is one, else the interpreter; compile: stage 1 only",
    )
    p.add_argument(
        "--max-spill",
        type=int,
        default=0,
        metavar="BYTES",
        help="drop configs that spill more than this per thread (default 0)",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the random choices (random strategy, ranking checks)",
    )
    p.add_argument(
        "--session",
        "-s",
        default=None,
        help="session file (default sessions/<problem>-<gpu>-sweep.json); rerun on it to resume",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the session's unfinished sweep (rerunning the same sweep does too)",
    )
    p.add_argument(
        "--backend",
        choices=("local", "ray"),
        default="local",
        help="where trials run: this machine's processes, or a Ray cluster",
    )
    p.add_argument(
        "--address", default=None, help="Ray cluster address (default: start a local one)"
    )
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="parallel compile workers (default: this machine's cores)",
    )
    p.add_argument(
        "--calibration",
        default=None,
        metavar="FILE",
        help="the performance model's calibration for predictions and guided ranking: a file from"
        " `calibrate`, or 'defaults' for the spec sheet (default: the target's shipped one)",
    )
    _timeout_arg(p, "trial")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of tables")


def _calibrate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("sessions", nargs="+", metavar="SESSION", help="session files of one device")
    p.add_argument("--gpu", "-g", default=None, help="the measuring device (default: the trials')")
    p.add_argument("--output", "-o", default=None, help="file to write (default: the shipped one)")
    p.add_argument(
        "--no-compile",
        action="store_true",
        help="do not compile trials that lack a SASS mix or shared-memory accesses",
    )
    p.add_argument(
        "--recount-shared",
        action="store_true",
        help="recount every trial's shared-memory accesses from an offline compile here (trials"
        " whose compile counted them by an earlier rule)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object instead of tables")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="conv3d-bench", description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    sub = parser.add_subparsers(dest="verb", metavar="VERB", parser_class=Parser)

    p = sub.add_parser(
        "tui", help="the workbench screen: source, target limits, occupancy, benchmark panes"
    )
    p.add_argument("path", nargs="?", help="a kernel file to open, or a session .json to resume")
    _problem_arg(p)
    _gpu_arg(p)
    p.add_argument(
        "--session",
        "-s",
        default=None,
        help="session file to record into (default: sessions/<problem>-<gpu>.json)",
    )

    p = sub.add_parser("limits", help="a target GPU's limits and spec sheet")
    _gpu_arg(p)
    p.add_argument("--all", action="store_true", help="every known target")
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")

    p = sub.add_parser("problems", help="the KernelBench conv3d problems and their facts")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")

    p = sub.add_parser(
        "inspect",
        help="compile a config for the target (no GPU needed): resources, occupancy, waves, waste",
    )
    _kernel_args(p)
    _timeout_arg(p, "compile")

    p = sub.add_parser(
        "bench", help="check and time one config in an isolated worker, the KernelBench way"
    )
    _kernel_args(p)
    p.add_argument(
        "--mode",
        choices=("auto", "gpu", "interpreter"),
        default="auto",
        help="auto: a GPU if there is one, else the interpreter on a reduced problem",
    )
    _timeout_arg(p, "trial")
    p.add_argument("--ncu", action="store_true", help="also profile one launch with Nsight Compute")
    p.add_argument("--session", "-s", default=None, help="append the trial to this session file")
    p.add_argument("--note", default="", help="a note stored with the trial")

    p = sub.add_parser("replay", help="re-run a saved session's trials here and compare")
    p.add_argument("session", help="the session .json")
    p.add_argument("--trials", default="all", help="all, best, or ids like 1,3,4 or 2-5")
    p.add_argument(
        "--simulate",
        action="store_true",
        help="no GPU: recompile, interpreter check, recorded timings",
    )
    p.add_argument(
        "--tolerance", type=float, default=10.0, help="allowed slowdown in percent (default 10)"
    )
    _timeout_arg(p, "trial")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of tables")

    p = sub.add_parser(
        "export", help="write a standalone KernelBench-format file with a config baked in"
    )
    p.add_argument(
        "source",
        nargs="?",
        help="a session .json (exports its best correct trial) or a kernel file",
    )
    _problem_arg(p)
    _gpu_arg(p)
    p.add_argument("--config", "-c", default="", help="with a kernel file: the config to bake in")
    p.add_argument(
        "--trial", type=int, default=None, help="export this trial id instead of the best"
    )
    p.add_argument(
        "--autotune",
        type=int,
        default=None,
        metavar="K",
        help="write the K fastest correct configs as an @triton.autotune list",
    )
    p.add_argument(
        "--output",
        "-o",
        required=True,
        help="the file to write ('-': standard output); never an existing file without --force",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="replace an existing kernel file, or export a failed trial (never a session)",
    )
    p.add_argument(
        "--no-verify", action="store_true", help="skip judging the written file the KernelBench way"
    )
    _timeout_arg(p, "check")

    p = sub.add_parser(
        "sweep",
        help="find the fastest correct config for a target: compile every config, measure the best",
    )
    _sweep_args(p)

    p = sub.add_parser(
        "sweep-many",
        help="sweep many kernel files (a folder, or a file listing them), one session each",
    )
    p.add_argument(
        "kernels",
        metavar="DIR_OR_LIST",
        help="a folder of kernel .py files, or a text file listing them",
    )
    _sweep_args(p)
    p.add_argument(
        "--sessions-dir",
        default="sessions",
        help="where each file's session goes: <kernel>-<problem>-<gpu>-sweep.json (default sessions)",
    )

    p = sub.add_parser(
        "calibrate", help="fit the performance model's device constants from measured sessions"
    )
    _calibrate_args(p)
    for summary in sub._choices_actions:  # each verb's own --help opens with what it does
        verb = sub.choices[summary.dest]
        verb.description = verb.description or summary.help
    return parser


def run() -> int:
    """The program: `conv3d-bench` and `python -m workbench`. main() once, then every worker
    ended on every exit path (return, error, Ctrl-C, SIGTERM) while the main thread unwinds,
    before Python joins the threads that supervise them."""
    from workbench.runner.process import end_all_for_exit

    try:
        return main()
    finally:
        end_all_for_exit()


def main(argv: list[str] | None = None) -> int:
    from workbench.runner.process import exit_on_sigterm

    exit_on_sigterm()  # SIGTERM runs the exit hooks, so no worker outlives us
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.verb is None:
        parser.print_help()
        return 0
    try:
        check_plain_values(args)
        return VERBS[args.verb]()(args)
    except WorkbenchError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def check_plain_values(args: argparse.Namespace) -> None:
    """The values a verb reads without torch (--gpu, a problem spec, --config), checked before
    the verb imports torch and Triton (seconds): a typo there is an error at once. A problem
    file, a session or `--gpu local` is left to the verb."""
    if args.verb not in ("inspect", "bench", "sweep", "sweep-many"):
        return
    from workbench.core.config import parse_config
    from workbench.core.gpus import find_gpu
    from workbench.core.problem import parse_problem

    if (args.gpu or "").strip().lower() != "local":
        find_gpu(args.gpu)
    problem = (args.problem or "").strip()
    if problem and not problem.endswith(".py") and not Path(problem).is_dir():
        parse_problem(problem)
    parse_config(getattr(args, "config", ""))


def _limits() -> Callable[[argparse.Namespace], int]:
    from workbench.cli import limits

    return limits.limits_command


def _problems() -> Callable[[argparse.Namespace], int]:
    from workbench.cli import limits

    return limits.problems_command


def _inspect() -> Callable[[argparse.Namespace], int]:
    from workbench.cli import inspection

    return inspection.inspect_command


def _bench() -> Callable[[argparse.Namespace], int]:
    from workbench.cli import bench

    return bench.bench_command


def _replay() -> Callable[[argparse.Namespace], int]:
    from workbench.cli import replay

    return replay.replay_command


def _export() -> Callable[[argparse.Namespace], int]:
    from workbench.cli import export

    return export.export_command


def _sweep() -> Callable[[argparse.Namespace], int]:
    from workbench.cli import sweep

    return sweep.sweep_command


def _sweep_many() -> Callable[[argparse.Namespace], int]:
    from workbench.cli import sweep_many

    return sweep_many.sweep_many_command


def _calibrate() -> Callable[[argparse.Namespace], int]:
    from workbench.cli import calibrate

    return calibrate.calibrate_command


def _tui() -> Callable[[argparse.Namespace], int]:
    from workbench.tui.app import run_tui

    return run_tui


# Each verb's module is imported only when it runs: `limits` must not pay for torch.
VERBS: dict[str, Callable[[], Callable[[argparse.Namespace], int]]] = {
    "limits": _limits,
    "problems": _problems,
    "inspect": _inspect,
    "bench": _bench,
    "replay": _replay,
    "export": _export,
    "sweep": _sweep,
    "sweep-many": _sweep_many,
    "calibrate": _calibrate,
    "tui": _tui,
}


if __name__ == "__main__":
    raise SystemExit(main())
