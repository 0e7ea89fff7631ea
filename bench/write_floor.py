"""What writing each L1 problem's output alone costs on this GPU: the floor a conv3d kernel with
an fp32 output cannot beat, measured instead of taken from the spec sheet (HBM writes run below
the read bandwidth). Also conv3d_fast3's bf16x3p split pass (x read, one word per element
written) on each problem's input.

    python3 bench/write_floor.py --out "$OUT/write-floor.json"      # on the GPU machine

Timing: CUDA events around each operation, 5 warm-ups, mean of 50 (each its own event pair),
no L2 flush (the arrays are far larger than the L2).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

import torch
import triton

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from workbench.core.problem import parse_problem  # noqa: E402


def mean_ms(fn, runs: int = 50) -> float:
    for _ in range(5):
        fn()
    torch.cuda.synchronize()
    total = 0.0
    for _ in range(runs):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        total += start.elapsed_time(end)
    return total / runs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    spec = importlib.util.spec_from_file_location("f3", ROOT / "kernels" / "conv3d_fast3.py")
    f3 = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(f3)
    rows = []
    for pid in ("L1/54", "L1/59", "L1/60", "L1/66"):
        problem = parse_problem(pid)
        model = f3.ModelNew(*problem.conv_args()).cuda()
        x = torch.rand(problem.input_shape, device="cuda")
        y = model(x)
        words = torch.empty(x.shape, device="cuda", dtype=torch.int32)
        n = x.numel()
        grid = (triton.cdiv(n, f3._SPLIT_BLOCK),)
        fill = mean_ms(lambda y=y: y.fill_(1.0))
        split = mean_ms(
            lambda g=grid, x=x, w=words, n=n: f3._split_x_kernel[g](
                x, w, n, SPLIT_BLOCK=f3._SPLIT_BLOCK
            )
        )
        # the split kernel's own tiles: elements per program and warps
        variants = {}
        for block, warps in ((1024, 4), (2048, 8), (4096, 4), (4096, 8), (8192, 8), (16384, 16)):
            g = (triton.cdiv(n, block),)
            ms = mean_ms(
                lambda g=g, b=block, nw=warps, x=x, w=words, n=n: f3._split_x_kernel[g](
                    x, w, n, SPLIT_BLOCK=b, num_warps=nw
                )
            )
            variants[f"{block}x{warps}"] = dict(ms=ms, tb_s=n * 8 / ms / 1e9)
        row = dict(
            problem=pid,
            output_bytes=y.numel() * 4,
            fill_ms=fill,
            fill_tb_s=y.numel() * 4 / fill / 1e9,
            split_ms=split,
            split_tb_s=n * 8 / split / 1e9,
            split_variants=variants,
        )
        rows.append(row)
        print(json.dumps(row), flush=True)
    env = dict(device=torch.cuda.get_device_name(), torch=torch.__version__)
    args.out.write_text(json.dumps(dict(env=env, rows=rows), indent=1))


if __name__ == "__main__":
    main()
