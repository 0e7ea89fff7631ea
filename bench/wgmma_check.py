"""conv3d_fast3's bf16x3g (the Gluon wgmma kernel) against float64 conv3d on a CUDA GPU, on small
shapes that cover rows and plane mode, stride, padding, dilation, bias, out_channels not a
multiple of BLOCK_N, and inf/NaN in x; says which kernel ran (Gluon needs Hopper).

    python3 bench/wgmma_check.py [--out DIR]     # on the GPU machine; prints one JSON line last
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
ap = argparse.ArgumentParser()
ap.add_argument("--out", type=Path, default=None)
args = ap.parse_args()
spec = importlib.util.spec_from_file_location("conv3d_fast3", ROOT / "kernels" / "conv3d_fast3.py")
cf = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cf)
cf.PRECISION = "bf16x3g"
cf.WG_TILES = int(os.environ.get("WG_TILES", "0"))  # a persistent grid, blocks per SM
cf.BLOCK_N = int(os.environ.get("BLOCK_N", "64"))
CASES = [
    # name, N, Ci, Co, kernel, (D, H, W), stride, padding, dilation, bias
    ("k357_rows", 2, 3, 64, (3, 5, 7), (6, 20, 40), 1, 0, 1, False),
    ("k333_rows_bias", 2, 3, 64, (3, 3, 3), (6, 18, 34), 1, 0, 1, True),
    ("k331_plane", 2, 3, 64, (3, 3, 1), (12, 20, 6), 1, 0, 1, False),
    ("stride_pad_dil", 1, 3, 64, (2, 3, 5), (7, 21, 33), (1, 2, 2), (1, 0, 2), (2, 1, 2), True),
    ("co40", 1, 3, 40, (3, 3, 3), (5, 9, 17), 1, 1, 1, True),
    ("co96", 1, 2, 96, (3, 5, 7), (5, 9, 17), 1, 0, 1, False),
    ("ci8", 1, 8, 64, (3, 3, 3), (5, 9, 130), 1, 1, 1, True),
]
torch.manual_seed(0)
results = {}
for name, n, ci, co, ks, dhw, st, pd, dil, bias in CASES:
    m = cf.ModelNew(ci, co, ks, stride=st, padding=pd, dilation=dil, bias=bias).cuda()
    x = torch.rand(n, ci, *dhw, device="cuda")
    with torch.no_grad():
        y = m(x)
    b = None if m.bias is None else m.bias.double()
    ref = F.conv3d(
        x.double(), m.weight.double(), b, stride=m.stride, padding=m.padding, dilation=m.dilation
    )
    plan = next(iter(cf._PLANS.values())) if len(cf._PLANS) == 1 else list(cf._PLANS.values())[-1]
    results[name] = dict(
        kernel=plan[4].name,
        max_abs=float((y.double() - ref).abs().max().detach()),
        ok=bool(torch.allclose(y.double(), ref, atol=1e-4, rtol=1e-4)),
    )
# inf and NaN in x propagate as in a float64 conv
m = cf.ModelNew(3, 64, (3, 5, 7)).cuda()
x = torch.rand(1, 3, 5, 9, 20, device="cuda")
x[0, 1, 2, 4, 7] = float("inf")
x[0, 0, 1, 3, 12] = float("nan")
with torch.no_grad():
    y = m(x).double()
ref = F.conv3d(x.double(), m.weight.double())
fin = torch.isfinite(ref)
results["nonfinite"] = dict(
    kernel=list(cf._PLANS.values())[-1][4].name,
    ok=bool(
        torch.equal(torch.isnan(y), torch.isnan(ref))
        and torch.equal(torch.isinf(y), torch.isinf(ref))
        and torch.allclose(y[fin], ref[fin], atol=1e-4, rtol=1e-4)
    ),
)
for k, v in results.items():
    print(f"{k:18s} {v}", file=sys.stderr)
line = json.dumps(
    dict(
        gpu=torch.cuda.get_device_name(), WG_TILES=cf.WG_TILES, BLOCK_N=cf.BLOCK_N, results=results
    )
)
if args.out:
    args.out.mkdir(parents=True, exist_ok=True)
    tag = f"-t{cf.WG_TILES}-n{cf.BLOCK_N}"
    (args.out / f"wgmma-check{tag}.json").write_text(line + "\n")
print(line)
