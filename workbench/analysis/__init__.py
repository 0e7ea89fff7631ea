"""What a config does on a target, worked out from its compile: the inspect report (and, later,
the performance model)."""
