"""Calibrating the performance model: its device constants fitted from trials measured on one device.

Each measured trial gives up to two times (do_bench's kernel-only median and KernelBench's
protocol mean) and, from its inspect record, the model's features. The fit is a robust least
squares on log time (Levenberg-Marquardt on the log of each constant, Huber weights so that a
few odd trials do not drag the rest, a weak pull towards the spec-sheet defaults so that a
constant the trials never exercise stays where it was and is reported as unconstrained). The
typical error a calibration reports is cross-validated: each trial predicted by a fit that did
not see it.

numpy only (no scipy).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from workbench.analysis.model import (
    CALIBRATION_SCHEMA,
    CONSTANTS,
    DEFAULTS,
    Calibration,
    Features,
    evaluate,
    features,
    trial_config,
)
from workbench.core.errors import CalibrationError
from workbench.core.gpus import GPU
from workbench.core.problem import Problem
from workbench.core.records import HelperLaunch, InspectReport, SharedAccess, TrialResult

HUBER_DELTA = 0.15  # log-time residual beyond which a trial counts less (about 16%)
PRIOR_WIDTH = math.log(1000.0)  # one "sigma" of the pull to the defaults: weak, only a tiebreak
MIN_TIMES = 3  # measured times needed before a fit is attempted
CONSTRAINED = math.log(1.5)  # "constrained": the trials pin the constant within a factor 1.5


@dataclass
class Measurement:
    """One measured trial as the fit sees it: features from its compile, and its two times."""

    label: str  # where it came from: "sessions/l1-66-h100.json #3"
    device: str  # the GPU it was measured on, as the trial names it
    kernel: str  # the kernel file's name
    problem: str  # the problem's id
    config: dict[str, int | str]
    features: Features
    kernel_ms: float | None  # do_bench median
    kernelbench_ms: float | None  # KernelBench protocol mean
    compiled: str = ""  # which compile gave the features, in words
    correct: bool | None = None
    facts: dict[str, Any] = field(default_factory=dict)  # registers, occupancy... for reports

    def times(self) -> list[tuple[str, float]]:
        out = []
        if self.kernel_ms is not None and self.kernel_ms > 0:
            out.append(("kernel_only", self.kernel_ms))
        if self.kernelbench_ms is not None and self.kernelbench_ms > 0:
            out.append(("kernelbench", self.kernelbench_ms))
        return out

    @property
    def headline_ms(self) -> float | None:
        """The time a trial is ranked by: KernelBench's protocol where measured."""
        return self.kernelbench_ms if self.kernelbench_ms is not None else self.kernel_ms


def full_config(trial: TrialResult, source: str = "") -> dict[str, int | str]:
    """The config the trial ran with (model.trial_config)."""
    return trial_config(trial, source)


def measurement(
    trial: TrialResult,
    problem: Problem,
    gpu: GPU,
    label: str = "",
    kernel: str = "",
    instruction_mix: dict[str, Any] | None = None,
    compiled: str = "",
    source: str = "",
    shared_accesses: list[SharedAccess] | None = None,
    helpers: list[HelperLaunch] | None = None,
) -> Measurement | None:
    """The fit's view of a trial measured on a GPU, or None where it has no time or no inspect.

    `instruction_mix`: where the trial's compile recorded none (an older Triton run), the mix of
    an offline compile of the same config, with `compiled` saying so; `shared_accesses`: the
    TTGIR's shared-memory accesses (their bank conflicts) of an offline compile, used instead of
    what the trial recorded (none, or counted by an earlier rule); `helpers`: the wrapper's other
    launches per call, recaptured offline from the session's source where the trial recorded
    none (trials before model v7). `source`: the kernel file's text (a precision it writes into
    its dot)."""
    if trial.mode != "gpu" or trial.inspect is None or not trial.ok:
        return None
    if trial.kernel_only_ms is None and trial.kernelbench_ms is None:
        return None
    report: InspectReport = trial.inspect
    res = report.resources
    if instruction_mix is not None and not res.instruction_mix:
        res = res.replace(instruction_mix=instruction_mix)
    if shared_accesses is not None:
        res = res.replace(shared_accesses=shared_accesses)
    report = report.replace(resources=res, config=full_config(trial, source))
    if helpers is not None and report.helpers is None:
        report = report.replace(helpers=helpers)
    f = features(report, problem, gpu)
    occ = report.occupancy
    return Measurement(
        label=label,
        device=trial.device,
        kernel=kernel,
        problem=problem.name or problem.spec(),
        config=dict(trial.config),
        features=f,
        kernel_ms=trial.kernel_only_ms,
        kernelbench_ms=trial.kernelbench_ms,
        compiled=compiled or res.source,
        correct=trial.correct,
        facts={
            "registers": res.registers,
            "spill_bytes": res.spill_bytes,
            "shared_bytes": res.shared_bytes,
            "blocks_per_sm": occ.blocks_per_sm,
            "occupancy": occ.fraction,
            "limiters": list(occ.limiters),
            "grid_blocks": report.grid_blocks,
            "helper_launches": [h.name for h in report.helpers or []],
        },
    )


# --- the fit -----------------------------------------------------------------------------------
@dataclass
class Fit:
    constants: dict[str, float]
    loss: float
    uncertainty: dict[str, float]  # standard deviation of the log constant after the fit
    iterations: int
    residuals: list[float]  # log(predicted / measured), every measured time


def _one_device(measurements: Sequence[Measurement]) -> str:
    devices = sorted({m.device for m in measurements})
    if len(devices) != 1:
        raise CalibrationError(
            "the trials were measured on "
            + (" and ".join(devices) if devices else "no device")
            + ": calibrate one device at a time (pass only its sessions)"
        )
    return devices[0]


def _log_bounds(names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    by = {c.name: c for c in CONSTANTS}
    return (
        np.log([by[n].low for n in names]),
        np.log([by[n].high for n in names]),
    )


def group_weights(measurements: Sequence[Measurement]) -> np.ndarray:
    """A weight per measured time (in `Measurement.times()` order): each kernel-and-problem group
    weighs the same in the fit, whatever its number of trials (a grid of 188 configs of one
    kernel must not set the constants that rank a sweep of 24 of another), scaled to a mean of 1
    so that the Huber scale and the prior's pull keep their meaning."""
    groups = [(m.kernel, m.problem) for m in measurements for _ in m.times()]
    if not groups:
        return np.ones(0)
    count: dict[tuple[str, str], int] = {}
    for g in groups:
        count[g] = count.get(g, 0) + 1
    w = np.array([1.0 / count[g] for g in groups])
    result: np.ndarray = w * len(w) / w.sum()
    return result


def _residual_fn(
    measurements: Sequence[Measurement], names: Sequence[str], base: dict[str, float]
) -> Callable[[np.ndarray], np.ndarray]:
    pairs = [(m.features, protocol, t) for m in measurements for protocol, t in m.times()]
    logs = np.log([t for _, _, t in pairs])

    def residuals(theta: np.ndarray) -> np.ndarray:
        k = {**base, **{n: float(math.exp(v)) for n, v in zip(names, theta)}}
        pred = [evaluate(f, k).ms(protocol) for f, protocol, _ in pairs]
        return np.log(pred) - logs

    return residuals


def fit_constants(
    measurements: Sequence[Measurement],
    free: Sequence[str] | None = None,
    start: dict[str, float] | None = None,
    max_iterations: int = 40,
    restarts: int = 1,
    balance_groups: bool = False,
) -> Fit:
    """Robust least squares on log time for the `free` constants (default all), the others held
    at `start` (default the spec-sheet defaults). `restarts`: further starts from random
    perturbations of `start` (the model's max() makes the loss piecewise; the best fit wins).
    `balance_groups`: each kernel-and-problem group weighs the same (`group_weights`); off (the
    default: on the H200 data it helped one kernel's ranks and cost another's), every measured
    time weighs the same."""
    names = list(free) if free is not None else [c.name for c in CONSTANTS]
    unknown = [n for n in names if n not in DEFAULTS]
    if unknown:
        raise CalibrationError(
            f"no model constant {unknown[0]!r}: choose from {', '.join(DEFAULTS)}"
        )
    base = {**DEFAULTS, **(start or {})}
    residuals = _residual_fn(measurements, names, base)
    n_times = sum(len(m.times()) for m in measurements)
    weight = group_weights(measurements) if balance_groups else np.ones(n_times)
    prior = np.log([DEFAULTS[n] for n in names])
    lo, hi = _log_bounds(names)
    theta0 = np.clip(np.log([base[n] for n in names]), lo, hi)

    def loss_of(theta: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        r = residuals(theta)
        w = np.minimum(1.0, HUBER_DELTA / np.maximum(np.abs(r), 1e-12)) * weight
        data = np.where(
            np.abs(r) <= HUBER_DELTA, r**2, 2 * HUBER_DELTA * np.abs(r) - HUBER_DELTA**2
        )
        p = (theta - prior) / PRIOR_WIDTH
        return float((data * weight).sum() + (p**2).sum()), r, w

    best: Fit | None = None
    rng = np.random.default_rng(0)
    starts = [theta0] + [
        np.clip(theta0 + rng.normal(0.0, 0.7, size=len(names)), lo, hi) for _ in range(restarts)
    ]
    for theta in starts:
        fit = _levenberg_marquardt(theta, residuals, loss_of, prior, lo, hi, max_iterations)
        if best is None or fit[1] < best.loss:
            theta_best, loss, its = fit
            r = residuals(theta_best)
            sd = _uncertainty(theta_best, residuals, r, weight)
            best = Fit(
                constants={
                    **base,
                    **{n: float(math.exp(v)) for n, v in zip(names, theta_best)},
                },
                loss=loss,
                uncertainty={n: float(v) for n, v in zip(names, sd)},
                iterations=its,
                residuals=[float(x) for x in r],
            )
    assert best is not None
    return best


def _jacobian(
    theta: np.ndarray, residuals: Callable[[np.ndarray], np.ndarray], r0: np.ndarray
) -> np.ndarray:
    h = 1e-4
    cols = []
    for j in range(len(theta)):
        step = theta.copy()
        step[j] += h
        cols.append((residuals(step) - r0) / h)
    return np.stack(cols, axis=1)


def _uncertainty(
    theta: np.ndarray,
    residuals: Callable[[np.ndarray], np.ndarray],
    r: np.ndarray,
    weight: np.ndarray | None = None,
) -> np.ndarray:
    """Standard deviation of each log constant after the fit (the Gauss-Newton posterior, with
    the residuals' robust scale and the prior's pull): near PRIOR_WIDTH where the trials say
    nothing about a constant."""
    J = _jacobian(theta, residuals, r)
    scale = max(1e-3, 1.4826 * float(np.median(np.abs(r))))
    w = np.ones(len(r)) if weight is None else weight
    A = J.T @ (J * w[:, None]) / scale**2 + np.eye(len(theta)) / PRIOR_WIDTH**2
    result: np.ndarray = np.sqrt(np.clip(np.diag(np.linalg.pinv(A)), 0.0, None))
    return result


def _levenberg_marquardt(
    theta: np.ndarray,
    residuals: Callable[[np.ndarray], np.ndarray],
    loss_of: Callable[[np.ndarray], tuple[float, np.ndarray, np.ndarray]],
    prior: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    max_iterations: int,
) -> tuple[np.ndarray, float, int]:
    lam = 1e-2
    loss, r, w = loss_of(theta)
    its = 0
    for its in range(1, max_iterations + 1):  # noqa: B007 - its is reported
        J = _jacobian(theta, residuals, r)
        sw = np.sqrt(w)
        Jw = J * sw[:, None]
        rw = r * sw
        P = np.eye(len(theta)) / PRIOR_WIDTH
        pr = (theta - prior) / PRIOR_WIDTH
        A = Jw.T @ Jw + P.T @ P
        g = Jw.T @ rw + P.T @ pr
        improved = False
        for _ in range(12):
            try:
                step = np.linalg.solve(A + lam * np.diag(np.diag(A) + 1e-9), -g)
            except np.linalg.LinAlgError:
                lam *= 10
                continue
            trial = np.clip(theta + step, lo, hi)
            new_loss, new_r, new_w = loss_of(trial)
            if new_loss < loss - 1e-12:
                converged = loss - new_loss < 1e-6 * max(1e-3, loss)
                theta, loss, r, w = trial, new_loss, new_r, new_w
                lam = max(lam / 3, 1e-7)
                improved = True
                break
            lam *= 4
        if not improved or converged:
            break
    return theta, loss, its


# --- a calibration -------------------------------------------------------------------------------
def _folds(n: int, k: int) -> list[list[int]]:
    order = np.random.default_rng(1).permutation(n)
    return [sorted(int(i) for i in order[j::k]) for j in range(k)]


def cross_validated(
    measurements: Sequence[Measurement],
    folds: int = 5,
    free: Sequence[str] | None = None,
    start: dict[str, float] | None = None,
    balance_groups: bool = False,
) -> list[float]:
    """log(predicted / measured) of each measurement's headline time, each predicted by a fit on
    the other folds (leave-one-out under 10 measurements)."""
    n = len(measurements)
    k = n if n < 10 else min(folds, n)
    out = [0.0] * n
    for fold in _folds(n, k):
        held = set(fold)
        train = [m for i, m in enumerate(measurements) if i not in held]
        fit = (
            fit_constants(train, free=free, start=start, restarts=0, balance_groups=balance_groups)
            if train
            else None
        )
        for i in fold:
            m = measurements[i]
            ms = m.headline_ms
            protocol = "kernelbench" if m.kernelbench_ms is not None else "kernel_only"
            pred = evaluate(m.features, fit.constants if fit else None).ms(protocol)
            out[i] = math.log(pred / ms) if ms else 0.0
    return out


def calibrate(
    measurements: Sequence[Measurement],
    gpu: GPU,
    sources: Sequence[str] = (),
    compiled: Sequence[str] = (),
    free: Sequence[str] | None = None,
    cross_validate: bool = True,
    balance_groups: bool = False,
) -> Calibration:
    """Fit the constants for `gpu` from trials measured on it (`balance_groups`: each kernel and
    problem weighs the same, `fit_constants`; off by default). Raises CalibrationError for trials of several
    devices or too few measured times."""
    if not measurements:
        raise CalibrationError(
            "no trial measured on a GPU with an inspect record: calibrate needs sessions of"
            " `bench` or `sweep` runs on the device"
        )
    device = _one_device(measurements)
    times = sum(len(m.times()) for m in measurements)
    if times < MIN_TIMES:
        raise CalibrationError(
            f"{times} measured time{'s' * (times != 1)} on {device}: calibrate needs at least"
            f" {MIN_TIMES}; measure more configs"
        )
    fit = fit_constants(measurements, free=free, balance_groups=balance_groups)
    cv = (
        cross_validated(measurements, free=free, balance_groups=balance_groups)
        if cross_validate
        else []
    )
    in_sample = [
        math.log(evaluate(m.features, fit.constants).ms(_headline(m)) / m.headline_ms)
        for m in measurements
        if m.headline_ms
    ]
    errs = cv or in_sample  # log(predicted / measured)
    ape = [abs(math.exp(e) - 1) * 100 for e in errs]
    ratios = [-e for e in errs]  # log(measured / predicted): where the measurement falls
    low = min(0.95, math.exp(float(np.quantile(ratios, 0.1))))
    high = max(1.05, math.exp(float(np.quantile(ratios, 0.9))))
    detail = {
        c.name: {
            "value": fit.constants[c.name],
            "default": c.default,
            "unit": c.unit,
            "meaning": c.meaning,
            "uncertainty_factor": round(math.exp(fit.uncertainty.get(c.name, PRIOR_WIDTH)), 3),
            "constrained": fit.uncertainty.get(c.name, PRIOR_WIDTH) < CONSTRAINED,
        }
        for c in CONSTANTS
    }
    return Calibration(
        device=device,
        gpu_key=gpu.key,
        constants={n: float(f"{v:.5g}") for n, v in fit.constants.items()},
        trials=len(measurements),
        typical_error_pct=round(float(np.median(ape)), 1),
        source=(
            f"fitted on {len(measurements)} trials ({times} times) measured on {device}"
            + (f" from {', '.join(sources)}" if sources else "")
        ),
        low_factor=round(low, 3),
        high_factor=round(high, 3),
        extra={
            "schema": CALIBRATION_SCHEMA,
            "created": dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat(),
            "spec_sheet": gpu.name,
            "error": {
                "typical_error_pct": "median absolute % error of the headline time (KernelBench"
                " protocol where measured), "
                + (
                    "cross-validated (each trial predicted by a fit without it)"
                    if cv
                    else "in-sample"
                ),
                "in_sample_median_pct": round(
                    float(np.median([abs(math.exp(e) - 1) * 100 for e in in_sample])), 1
                ),
                "band": "low_factor..high_factor: the 10th..90th percentile of measured / predicted",
            },
            "fit": {
                "method": "Levenberg-Marquardt on log time, Huber weights (delta"
                f" {HUBER_DELTA}), pull to the defaults of one factor {math.exp(PRIOR_WIDTH):g}"
                + (", each kernel and problem weighted equally" if balance_groups else ""),
                "loss": round(fit.loss, 6),
                "iterations": fit.iterations,
                "constants": detail,
            },
            "compiled": sorted(set(compiled)),
            "measurements": [
                _row(m, fit.constants, cv[i] if cv else None) for i, m in enumerate(measurements)
            ],
        },
    )


def _row(m: Measurement, constants: dict[str, float], cv: float | None) -> dict[str, Any]:
    """One measurement as a calibration file lists it: measured and predicted times."""
    out = evaluate(m.features, constants)
    return {
        "trial": m.label,
        "kernel": m.kernel,
        "problem": m.problem,
        "config": m.config,
        "measured_kernel_only_ms": m.kernel_ms,
        "measured_kernelbench_ms": m.kernelbench_ms,
        "predicted_kernel_only_ms": round(out.kernel_ms, 4),
        "predicted_kernelbench_ms": round(out.kernelbench_ms, 4),
        "cross_validated_predicted_ms": (
            None if cv is None or not m.headline_ms else round(m.headline_ms * math.exp(cv), 4)
        ),
        "cross_validated_error_pct": None if cv is None else round((math.exp(cv) - 1) * 100, 1),
        "bound": out.bound,
        "compiled": m.compiled,
    }


def _headline(m: Measurement) -> str:
    return "kernelbench" if m.kernelbench_ms is not None else "kernel_only"
