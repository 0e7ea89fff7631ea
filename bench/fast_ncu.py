"""Run the fast kernel on one problem a few times, for Nsight Compute to profile one launch.

    ncu --kernel-name regex:_conv3d_igemm_kernel --launch-skip 2 --launch-count 1 ... \
        python3 bench/fast_ncu.py L1/66 [num_stages] [kernel file stem, default conv3d_fast]
(see bench/fast_ncu.sh, which profiles L1/54 and L1/66 and writes the CSVs under $OUT).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from workbench.core.problem import parse_problem  # noqa: E402

problem = parse_problem(sys.argv[1])
stem = sys.argv[3] if len(sys.argv) > 3 else "conv3d_fast"
path = Path(__file__).resolve().parents[1] / "kernels" / f"{stem}.py"
spec = importlib.util.spec_from_file_location("conv3d_fast", path)
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
if len(sys.argv) > 2 and sys.argv[2] != "-":
    mod.NUM_STAGES = int(sys.argv[2])  # the launch reads the config block at call time
torch.manual_seed(42)
model = mod.ModelNew(*problem.init_inputs()).cuda()
x = torch.rand(problem.input_shape, device="cuda")
with torch.no_grad():
    for _ in range(4):
        model(x)
torch.cuda.synchronize()
