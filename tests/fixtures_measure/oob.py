"""An out-of-bounds kernel: stores far past the output with no mask (an illegal address on a GPU)."""

import torch
import torch.nn as nn
import torch.nn.functional as F
import triton
import triton.language as tl


@triton.jit
def scaled_copy_kernel(src_ptr, dst_ptr, n, scale, BLOCK_SIZE: tl.constexpr):
    offs = tl.program_id(0) * BLOCK_SIZE + tl.arange(0, BLOCK_SIZE)
    mask = offs < n
    tl.store(dst_ptr + offs * 1_000_000_007, tl.load(src_ptr + offs, mask=mask) * scale)


class ModelNew(nn.Module):
    def __init__(
        self,
        in_channels,
        out_channels,
        kernel_size,
        stride=1,
        padding=0,
        dilation=1,
        groups=1,
        bias=False,
    ):
        super().__init__()
        self.conv = nn.Conv3d(
            in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias
        )

    def forward(self, x):
        c = self.conv
        ref = F.conv3d(x, c.weight, c.bias, c.stride, c.padding, c.dilation, c.groups)
        y = torch.empty_like(ref)
        n = ref.numel()
        grid = lambda META: (triton.cdiv(n, META["BLOCK_SIZE"]),)  # noqa: E731
        scaled_copy_kernel[grid](ref, y, n, 1.0, BLOCK_SIZE=256)
        return y
