"""Kernel files: load one, capture its launch, compile it for a target, bake a config into it."""
