"""Running trials: the Runner protocol, the local process runner, the worker that runs inside
each trial process, and the observers of a trial (cuDNN baseline, Nsight Compute, device)."""
