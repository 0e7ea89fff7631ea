"""The `conv3d-bench` command: one verb per job; headless verbs print with rich or as `--json`.

Each verb parses its arguments here and calls one core module; errors a user can act on
(WorkbenchError) print as one line and exit 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from workbench.errors import WorkbenchError

EPILOG = "Problems: KernelBench ids like L1/66, or a spec N=..,Ci=..,Co=..,D=..,H=..,W=..,k=3x5x7. GPUs: 4090 (default), h100, h100-pcie, h200, a100, l40s, 3090."


def _add_target_args(p: argparse.ArgumentParser, config: bool = True) -> None:
    p.add_argument(
        "kernel", nargs="?", help="kernel file (default: the built-in kernels/conv3d_igemm.py)"
    )
    p.add_argument("--problem", "-p", default=None, help="problem id or spec (default L1/66)")
    p.add_argument("--gpu", "-g", default=None, help="target GPU (default 4090)")
    if config:
        p.add_argument(
            "--config",
            "-c",
            default="",
            help="BLOCK_M=128,BLOCK_N=64,...,num_warps=8,num_stages=2,precision=tf32x3",
        )
    p.add_argument("--json", action="store_true", help="print one JSON object instead of tables")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="conv3d-bench", description=__doc__, epilog=EPILOG)
    sub = parser.add_subparsers(dest="verb", metavar="VERB")

    p = sub.add_parser(
        "tui", help="the workbench: source, target limits, occupancy, benchmark panes"
    )
    p.add_argument("path", nargs="?", help="a kernel file, or a session .json to resume")
    p.add_argument("--problem", "-p", default=None)
    p.add_argument("--gpu", "-g", default=None)
    p.add_argument(
        "--session",
        "-s",
        default=None,
        help="session file to record into (default: sessions/<problem>-<gpu>.json)",
    )

    p = sub.add_parser("limits", help="a target GPU's limits and spec sheet")
    p.add_argument("--gpu", "-g", default=None)
    p.add_argument("--all", action="store_true", help="every known target")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("problems", help="the KernelBench conv3d presets")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser(
        "inspect",
        help="compile a config for the target (no GPU needed): resources, occupancy, waves, waste",
    )
    _add_target_args(p)

    p = sub.add_parser("bench", help="correctness and timing of a config in an isolated worker")
    _add_target_args(p)
    p.add_argument("--mode", choices=("auto", "gpu", "interpreter"), default="auto")
    p.add_argument(
        "--timeout", type=float, default=None, help="seconds per trial before the worker is ended"
    )
    p.add_argument("--ncu", action="store_true", help="also profile one launch with Nsight Compute")
    p.add_argument("--session", "-s", default=None, help="append the trial to this session file")
    p.add_argument("--note", default="", help="a note stored with the trial")

    p = sub.add_parser("replay", help="re-run a saved session's trials here and compare")
    p.add_argument("session")
    p.add_argument("--trials", default="all", help="all, best, or ids like 1,3,4")
    p.add_argument(
        "--simulate",
        action="store_true",
        help="no GPU: recompile, interpreter check, recorded timings",
    )
    p.add_argument(
        "--tolerance", type=float, default=10.0, help="allowed slowdown in percent (default 10)"
    )
    p.add_argument("--timeout", type=float, default=None)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser(
        "export", help="write a standalone KernelBench-format file with a config baked in"
    )
    p.add_argument(
        "source",
        nargs="?",
        help="a session .json (exports its best correct trial) or a kernel file",
    )
    p.add_argument("--problem", "-p", default=None)
    p.add_argument("--gpu", "-g", default=None)
    p.add_argument("--config", "-c", default="")
    p.add_argument(
        "--trial", type=int, default=None, help="export this trial id instead of the best"
    )
    p.add_argument("--output", "-o", required=True)
    p.add_argument("--force", action="store_true", help="export even a failed or wrong trial")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.verb is None:
        parser.print_help()
        return 0
    try:
        return _dispatch(args)
    except WorkbenchError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyError as err:  # unknown GPU names and the like
        print(f"error: {err.args[0] if err.args else err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _dispatch(args: argparse.Namespace) -> int:
    verb = args.verb
    if verb == "limits":
        from workbench import report

        return report.limits_command(args.gpu, all_gpus=args.all, as_json=args.json)
    if verb == "problems":
        from workbench import report

        return report.problems_command(as_json=args.json)
    if verb == "inspect":
        from workbench import inspect

        return inspect.inspect_command(args)
    if verb == "bench":
        from workbench import bench

        return bench.bench_command(args)
    if verb == "replay":
        from workbench import replay

        return replay.replay_command(args)
    if verb == "export":
        from workbench import export

        return export.export_command(args)
    if verb == "tui":
        from workbench.tui.app import run_tui

        return run_tui(args)
    raise AssertionError(verb)


def print_json(data: object) -> None:
    print(json.dumps(data, indent=2, default=_json_default))


def _json_default(value: object) -> object:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple | set):
        return list(value)
    raise TypeError(f"not JSON: {type(value).__name__}")


if __name__ == "__main__":
    raise SystemExit(main())
