"""Sweeps: search spaces over a kernel's tunables and the strategies that walk them."""
