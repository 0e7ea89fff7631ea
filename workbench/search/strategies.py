"""How a sweep chooses what to measure, after stage 1 has ranked the fitting configs by prediction.

- grid: every config that fits (the ground truth; costs one measurement per config);
- random: `budget` configs drawn uniformly (seeded, so a resumed sweep draws the same ones);
- guided: the most promising by prediction, in rounds; after each round the predictions of the
  configs not yet measured are corrected by what the nearest measured configs ran at (measured
  over predicted, nearest in log2 of each parameter), then the next round is picked.
Which to use when: docs/sweep.md.
"""

from __future__ import annotations

import math
import random
from typing import Any

from workbench.core.config import Config, config_key
from workbench.core.errors import UsageError

STRATEGIES = ("grid", "random", "guided")
NEIGHBOURS = 3


def pick(strategy: str, fitting: list[Any], budget: int | None, rng: random.Random) -> list[Config]:
    """The configs to screen, best predicted first (`fitting`: stage 1's candidates, ranked)."""
    if strategy not in STRATEGIES:
        raise UsageError(f"--strategy {strategy!r}: choose one of {', '.join(STRATEGIES)}")
    configs = [c.config for c in fitting]
    if strategy == "grid":
        return configs[:budget] if budget else configs
    if budget is None:
        raise UsageError(f"--strategy {strategy} needs --budget N (how many configs to measure)")
    if strategy == "random":
        return rng.sample(configs, min(budget, len(configs)))
    return configs[:budget]


def _position(config: Config) -> dict[str, float]:
    return {
        k: math.log2(v) if isinstance(v, int) and v > 0 else float(hash(v) % 7)
        for k, v in config.items()
    }


def corrected_ranking(fitting: list[Any], measured: dict[str, Any]) -> list[Any]:
    """`fitting` re-ranked: each prediction times the measured/predicted ratio of its nearest
    measured neighbours (in log2 space), so the model's systematic errors stop steering."""
    ratios = []
    for c in fitting:
        trial = measured.get(config_key(c.config))
        ms = trial.kernel_only_ms if trial is not None and trial.correct else None
        if ms is not None and c.predicted_ms:
            ratios.append((_position(c.config), ms / c.predicted_ms))
    if not ratios:
        return list(fitting)

    def corrected(c: Any) -> float:
        if c.predicted_ms is None:
            return math.inf
        here = _position(c.config)
        near = sorted(
            ratios, key=lambda r: sum((here.get(k, 0.0) - v) ** 2 for k, v in r[0].items())
        )
        factor = math.exp(
            sum(math.log(r) for _, r in near[:NEIGHBOURS]) / min(NEIGHBOURS, len(near))
        )
        return float(c.predicted_ms * factor)

    return sorted(fitting, key=corrected)
