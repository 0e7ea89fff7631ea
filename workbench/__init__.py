"""conv3d-bench: a terminal workbench for tuning Triton conv3d kernels for a target GPU."""

__version__ = "0.1.0"
