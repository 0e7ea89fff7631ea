"""The `conv3d-bench` command: one module per verb, and the rendering they share (rich, JSON)."""

from workbench.cli.main import main

__all__ = ["main"]
