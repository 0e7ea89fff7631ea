"""The `conv3d-bench` command: one module per verb, and the rendering they share (rich, JSON)."""

from workbench.cli.main import main, run

__all__ = ["main", "run"]
