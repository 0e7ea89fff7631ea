"""How a sweep chooses what to measure, after stage 1 has ranked the fitting configs by prediction.

- grid: every config that fits (the ground truth; costs one measurement per config);
- random: `budget` configs drawn uniformly (seeded, so a resumed sweep draws the same ones);
- guided: the most promising by prediction, in rounds; after each round the model's device
  constants are refit on what was measured (analysis/calibrate.fit_constants) and the configs
  not yet measured are re-ranked; where a refit cannot be made (too few or odd measurements),
  predictions are scaled by what the nearest measured configs ran at instead (measured over
  predicted, nearest in log2 of each parameter).
Which to use when: docs/sweep.md.
"""

from __future__ import annotations

import math
import random
from typing import Any

from workbench.analysis.calibrate import fit_constants, measurement
from workbench.analysis.model import Calibration, calibration_for, evaluate, features, trial_config
from workbench.core.config import Config, config_key
from workbench.core.errors import UsageError
from workbench.core.gpus import GPU
from workbench.core.problem import Problem
from workbench.core.records import TrialResult

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


MIN_TO_REFIT = 3


class Refit:
    """The guided strategy's ranking: the model's features per candidate, re-evaluated under
    constants refit on the screened trials so far."""

    def __init__(
        self, problem: Problem, gpu: GPU, source: str, calibration: Calibration | None
    ) -> None:
        self.problem, self.gpu, self.source = problem, gpu, source
        base = calibration or calibration_for(gpu)
        self.constants: dict[str, float] = dict(base.constants) if base is not None else {}
        self.features: dict[str, Any] = {}
        self.how = "ranked by the model's prediction"

    def add_candidate(self, candidate: Any, compile_trial: TrialResult) -> None:
        if compile_trial.inspect is None:
            return
        report = compile_trial.inspect.replace(config=trial_config(compile_trial, self.source))
        try:
            self.features[config_key(candidate.config)] = features(report, self.problem, self.gpu)
        except ValueError:
            return

    def ranking(self, fitting: list[Any], measured: dict[str, TrialResult]) -> list[Any]:
        points = [
            m
            for t in measured.values()
            if t.correct and (m := measurement(t, self.problem, self.gpu, source=self.source))
        ]
        if len(points) >= MIN_TO_REFIT and self.features:
            try:
                self.constants = {
                    **self.constants,
                    **fit_constants(points, start=self.constants).constants,
                }
            except Exception as err:  # numerical trouble: keep the last constants, say so
                self.how = (
                    f"refit failed ({type(err).__name__}); ranked by nearest measured neighbours"
                )
                return corrected_ranking(fitting, measured)
            self.how = f"model constants refit on {len(points)} screened configs after each round"

            def time_of(c: Any) -> float:
                f = self.features.get(config_key(c.config))
                return evaluate(f, self.constants).kernel_ms if f is not None else math.inf

            return sorted(fitting, key=time_of)
        return corrected_ranking(fitting, measured)
