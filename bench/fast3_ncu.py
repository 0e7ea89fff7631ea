"""Run conv3d_fast3 (the file's defaults) on one L1 problem a few times, for Nsight Compute to
profile one launch of its main kernel. ModelNew is built from the reference's nn.Conv3d arguments
(so L1/59 gets its (3, 3, 1) kernel).

    python3 bench/fast3_ncu.py L1/66        # under ncu: see bench/fast3_ncu.sh
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from workbench.core.problem import parse_problem  # noqa: E402

problem = parse_problem(sys.argv[1])
# FAST3_FILE: another kernel file of the same interface (a variant measured on its own)
kernel = Path(os.environ.get("FAST3_FILE") or ROOT / "kernels" / "conv3d_fast3.py")
spec = importlib.util.spec_from_file_location("conv3d_fast3", kernel)
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
torch.manual_seed(42)
model = mod.ModelNew(*problem.conv_args()).cuda()
x = torch.rand(problem.input_shape, device="cuda")
with torch.no_grad():
    for _ in range(4):
        model(x)
torch.cuda.synchronize()
print(
    f"ncu target: {sys.argv[1]} {kernel.name} defaults, output {tuple(model(x).shape)}",
    file=sys.stderr,
)
