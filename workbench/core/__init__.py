"""The ground floor: errors, problems, target GPUs, configs, occupancy and the typed records.

Nothing here imports another workbench package, renders, or starts a process.
"""
