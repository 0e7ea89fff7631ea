"""How good is the TUI's shared-memory estimate? Compile real configs and compare.

    python bench/tui_shared_estimate.py [--out docs/measurements/tui-shared-estimate.json]

Compiles (offline, no GPU) a fixed set of tiles of the built-in kernel for sm_89 and sm_90 and of
conv3d_fast2 for sm_89 on L1/66, and sets each compile's shared memory (Triton's metadata, what
the launch asks for; from the out-of-resources message when it is over the limit) beside
workbench.analysis.estimate's estimate. The compile cache makes a rerun quick.
"""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path

from workbench.analysis.estimate import CLOSE, OVER, estimate_shared
from workbench.core.errors import WorkbenchError
from workbench.core.gpus import find_gpu
from workbench.core.jsonio import write_json
from workbench.core.paths import KERNELS_DIR
from workbench.kernel.compile import compile_for_target
from workbench.kernel.kernelfile import KernelFile
from workbench.kernel.problemfile import load_problem

TILES = [  # BLOCK_M, BLOCK_N, BLOCK_K, num_stages, num_warps
    (256, 64, 16, 2, 8), (128, 64, 32, 2, 4), (128, 128, 32, 3, 8), (64, 64, 32, 4, 4),
    (256, 128, 32, 2, 8), (64, 32, 16, 1, 4), (128, 64, 64, 3, 4), (256, 64, 32, 4, 8),
    (32, 32, 32, 2, 2), (128, 128, 64, 2, 8), (256, 256, 32, 2, 8), (128, 64, 16, 5, 4),
    (64, 128, 32, 3, 4), (256, 64, 64, 2, 8),
]  # fmt: skip
RUNS = [("conv3d_igemm.py", "4090", TILES), ("conv3d_igemm.py", "h100", TILES[:10]),
        ("conv3d_fast2.py", "4090", [TILES[i] for i in (1, 3, 4, 9, 11)])]  # fmt: skip
SHARED = re.compile(r"shared memory (\d+) B")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="docs/measurements/tui-shared-estimate.json")
    args = parser.parse_args()
    problem = load_problem("L1/66")
    rows = []
    for kernel, gpu_key, tiles in RUNS:
        kf, gpu = KernelFile.load(KERNELS_DIR / kernel), find_gpu(gpu_key)
        for bm, bn, bk, stages, warps in tiles:
            tile = {
                "BLOCK_M": bm,
                "BLOCK_N": bn,
                "BLOCK_K": bk,
                "num_stages": stages,
                "num_warps": warps,
            }
            config = kf.full_config(problem, tile)
            started = time.perf_counter()
            try:
                actual = compile_for_target(kf, problem, config, gpu)[0].shared_bytes
            except WorkbenchError as err:  # over the limit: the message has the bytes
                found = SHARED.search(str(err))
                actual = int(found.group(1)) if found else None
            est = estimate_shared(config, gpu)
            assert est is not None
            rows.append({
                "kernel": kernel, "target": gpu.sm, **tile, "shared_bytes": actual,
                "estimate_bytes": est.bytes, "verdict": est.verdict,
                "estimate_over_actual": round(est.bytes / actual, 3) if actual else None,
                "fits": actual is not None and actual <= gpu.arch.max_shared_per_block_optin,
                "compile_s": round(time.perf_counter() - started, 2),
            })  # fmt: skip
            print(rows[-1], flush=True)
    groups = {}
    for r in rows:
        groups.setdefault(f"{r['kernel']} {r['target']}", []).append(r)
    summary = {
        name: {
            "configs": len(rs),
            "exact": sum(r["estimate_over_actual"] == 1 for r in rs),
            "min_ratio": min(r["estimate_over_actual"] for r in rs if r["estimate_over_actual"]),
            "max_ratio": max(r["estimate_over_actual"] for r in rs if r["estimate_over_actual"]),
            "refused_but_fits": sum(r["verdict"] == "over" and r["fits"] for r in rs),
        }
        for name, rs in groups.items()
    }
    write_json(
        Path(args.out),
        {
            "what": "shared memory per block: workbench.analysis.estimate vs the real compile",
            "problem": "L1/66",
            "bands": {"close": CLOSE, "over": OVER},
            "made_by": "bench/tui_shared_estimate.py",
            "summary": summary,
            "rows": rows,
        },  # fmt: skip
        indent=1,
    )
    for name, s in summary.items():
        print(name, s)


if __name__ == "__main__":
    main()
