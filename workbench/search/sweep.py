"""A sweep: the fastest correct config of a kernel for a target, found in two stages.

Stage 1 needs no GPU: every config of the space is compiled for the target (in parallel, through
the compile cache), what does not fit is dropped with the reason (out of resources, spills over
the limit), and the rest are ranked by the performance model's prediction. Stage 2 measures: on a
GPU the strategy's picks are screened (KernelBench's correctness trials and a short kernel-only
timing), the best K then get KernelBench's full protocol, and the winner, and anything much faster
than predicted, is timed again before it is believed. Without a GPU the top K are checked in the
interpreter on the reduced problem (no times: the ranking stays a prediction).

Every trial streams into the session as it finishes (the driver is the only writer); the sweep is
a block in the session, so rerunning it on the same session resumes it without redoing or
duplicating a trial.
"""

from __future__ import annotations

import math
import random
import statistics
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from workbench.analysis.model import Calibration, predict_trial
from workbench.analysis.report import gluon_note
from workbench.core.config import Config, check_rules, config_key, short_config
from workbench.core.errors import SpaceError, UsageError
from workbench.core.gpus import GPU
from workbench.core.problem import Problem
from workbench.core.records import OMIT, Record, Status, TrialRequest, TrialResult
from workbench.kernel.kernelfile import KernelFile
from workbench.runner.base import Runner
from workbench.runner.local import make_request
from workbench.search import strategies
from workbench.search.space import Space, default_space, parse_space
from workbench.session.store import Session, now_utc, problem_id

SUSPICIOUS = 1.5  # measured this much faster than predicted: time it again before believing it
RANKING_CHECKS = 3  # random configs measured beside the strategy's picks, to check the ranking
# A top two within the noise of their own runs get this many more full runs each, alternating,
# before the winner is named: two runs of one config differed by up to 17 % on the H200.
TIE_BREAK_RUNS = 3
SAVE_EVERY_S = 1.0  # stage 1 saves at most this often (the compile cache keeps the rest)


@dataclass
class SweepSpec(Record):
    """What a sweep is asked to do; a session's sweep with an equal spec is resumed."""

    space: str
    strategy: str = "grid"
    target: str = "4090"
    mode: str = "compile"  # gpu | interpreter | compile (stage 1 only)
    budget: int | None = None  # configs to measure (random, guided); None: every one that fits
    time_budget_s: float | None = None
    top_k: int = 5
    max_spill_bytes: int = 0
    seed: int = 0

    def key(self) -> dict[str, Any]:
        return {k: v for k, v in self.to_json().items() if k != "time_budget_s"}


@dataclass
class Candidate(Record):
    """One config of the space after stage 1."""

    config: dict[str, int | str]
    fits: bool
    reason: str = ""  # why it was dropped
    predicted_ms: float | None = None
    compile_trial: int | None = None
    registers: int | None = None
    spill_bytes: int | None = None
    occupancy: float | None = None
    limiter: str = ""


@dataclass
class Ranked(Record):
    """A measured config in the final table."""

    config: dict[str, int | str]
    status: str
    trial: int | None
    predicted_ms: float | None
    kernelbench_ms: float | None
    kernel_only_ms: float | None
    speedup: float | None
    rel_error: float | None
    correct: bool
    registers: int | None = None
    spill_bytes: int | None = None
    occupancy: float | None = None
    limiter: str = ""
    # Every full KernelBench run of the config when it had more than one; kernelbench_ms is their mean.
    runs_ms: list[float] = field(default_factory=list, metadata=OMIT)

    def time_words(self) -> str:
        """Its time as both front ends say it: measured (with its runs) or predicted, never mixed."""
        if self.kernelbench_ms is None:
            return f"predicted {self.predicted_ms:.3g} ms" if self.predicted_ms else "no time"
        runs = ", ".join(f"{x:.4g}" for x in self.runs_ms)
        spread = f" (mean of {len(self.runs_ms)} runs: {runs} ms)" if self.runs_ms else ""
        return f"{self.kernelbench_ms:.4g} ms measured{spread}"


@dataclass
class SweepResult(Record):
    """The outcome, as the verb prints it and pipelines read it (`--json`)."""

    spec: SweepSpec
    sweep: int
    kernel: str  # the kernel file and problem, as the export command names them
    problem: str
    space_size: int
    fits: int
    dropped: dict[str, int]
    measured: int
    ranked: list[Ranked]
    winner: Ranked | None
    winner_basis: str  # "measured (KernelBench's protocol) on <device>" or "predicted ..."
    device: str
    wall_s: float
    gpu_s: float
    seconds_per_config: float | None
    rank_correlation: float | None  # Spearman: predicted vs measured, over measured configs
    notes: list[str] = field(default_factory=list)
    resumed: bool = False


@dataclass
class SweepEvent:
    """Progress for the front ends: the stage, how far, and the best so far; with the config
    that just finished (stage 1: its candidate; stage 2: its measured row, predicted_ms unset)."""

    stage: str  # "compile" | "screen" | "confirm" | "check" | "done"
    done: int
    total: int
    best: Ranked | None = None
    message: str = ""
    candidate: Candidate | None = None
    row: Ranked | None = None


OnEvent = Callable[[SweepEvent], None]
STAGE_LABELS = {  # what each stage of a SweepEvent is, in words ({target}: the target's name)
    "compile": "stage 1: compiling for {target}",
    "screen": "stage 2: screening",
    "confirm": "stage 2: KernelBench's protocol",
    "check": "stage 2: interpreter check",
}


# --- what a front end asks for ------------------------------------------------------------
CLI_NAMES = {"budget": "--budget", "top_k": "--top", "max_spill_bytes": "--max-spill",
             "time_budget_s": "--time-budget", "strategy": "--strategy"}  # fmt: skip


def sweep_mode(text: str) -> str:
    """ "compile" (stage 1 only) as it is; auto, gpu and interpreter as a trial resolves them
    (auto: a GPU where there is one, else the interpreter)."""
    if text == "compile":
        return text
    from workbench.runner.local import resolve_mode

    return resolve_mode(text)


def check_spec(spec: SweepSpec, names: Mapping[str, str] = CLI_NAMES) -> None:
    """UsageError, in one line naming the field as the front end calls it (`names`), for
    numbers a sweep cannot take."""
    for key in ("budget", "top_k"):
        value = getattr(spec, key)
        if value is not None and value < 1:
            raise UsageError(f"{names[key]} {value} must be 1 or more")
    if spec.max_spill_bytes < 0:
        raise UsageError(
            f"{names['max_spill_bytes']} {spec.max_spill_bytes} must be 0 or more bytes per thread"
        )
    if spec.strategy == "random" and spec.budget is None:
        raise UsageError(
            f"{names['strategy']} random needs {names['budget']} N (how many configs to measure)"
        )
    if spec.time_budget_s is not None and not spec.time_budget_s > 0:
        raise UsageError(
            f"{names['time_budget_s']} {spec.time_budget_s} must be more than 0 seconds"
        )


# --- the space of a kernel --------------------------------------------------------------------
def build_space(kf: KernelFile, problem: Problem, text: str | None) -> Space:
    """The default space for the kernel's tunables, with `--space` overriding per key."""
    tunables = kf.tunables(problem)
    choices = {t.name: tuple(t.choices) for t in tunables}
    modes = next((tuple(str(c) for c in t.choices) for t in tunables if t.name == "precision"), ())
    space = default_space(tunables, modes)
    if text:
        values, restrictions = parse_space(text, choices)
        for key, options in values.items():
            for value in options:  # a value that breaks a hard rule could never run
                hard = [r for r in check_rules({key: value}) if r.severity == "error"]
                if hard:
                    raise SpaceError(f"{hard[0].message} (in --space)")
        space.values.update(values)
        space.restrictions = restrictions
        space.notes = [n for n in space.notes if not any(n.startswith(f"{k}=") for k in values)]
    if space.size == 0:
        raise SpaceError("the space has no config left after its restrictions: loosen them")
    return space


# --- the sweep ----------------------------------------------------------------------------------
class Sweep:
    """One sweep of `kf` on `problem` for `gpu`, recorded in `session`, run by `runner`."""

    def __init__(
        self,
        kf: KernelFile,
        problem: Problem,
        gpu: GPU,
        spec: SweepSpec,
        session: Session,
        runner: Runner,
        *,
        calibration: Calibration | None = None,
        on_event: OnEvent | None = None,
        cancel: threading.Event | None = None,
    ) -> None:
        self.kf, self.problem, self.gpu, self.spec = kf, problem, gpu, spec
        self.session, self.runner = session, runner
        self.calibration = calibration
        self.on_event = on_event or (lambda event: None)
        self.cancel = cancel
        self.space = build_space(kf, problem, spec.space)
        self.index, self.resumed = self._block()
        self._last_save = 0.0
        self._gpu_s = 0.0
        self._lock = threading.Lock()  # results of parallel compiles arrive on several threads
        self.notes: list[str] = list(self.space.notes)
        self.notes += [note] if (note := gluon_note(kf)) else []

    # --- the session block ----------------------------------------------------------------
    def _block(self) -> tuple[int, bool]:
        for i, block in enumerate(self.session.sweeps):
            if block.get("spec_key") == self.spec.key() and block.get("state") != "done":
                return i, True
        block = {
            "id": len(self.session.sweeps) + 1,
            "spec": self.spec.to_json(),
            "spec_key": self.spec.key(),
            "space": self.space.text(),
            "started": now_utc(),
            "state": "running",
        }
        return self.session.set_sweep(None, block), False

    @property
    def sweep_id(self) -> int:
        return int(self.session.sweeps[self.index]["id"])

    def _update(self, **fields: Any) -> None:
        block = {**self.session.sweeps[self.index], **fields}
        self.session.set_sweep(self.index, block)

    def _mine(self) -> list[TrialResult]:
        return [t for t in self.session.trials if t.sweep == self.sweep_id]

    def _record(self, result: TrialResult, *, save: bool = True) -> TrialResult:
        result.sweep = self.sweep_id
        with self._lock:
            if save or time.monotonic() - self._last_save > SAVE_EVERY_S:
                trial = self.session.record(result)
                self._last_save = time.monotonic()
            else:
                trial = self.session.record_unsaved(result)
            if result.mode == "gpu" and result.worker_s:
                self._gpu_s += result.worker_s
        return trial

    # --- stage 1 ----------------------------------------------------------------------------
    def compile_all(self) -> list[Candidate]:
        # Config-block choices the space does not name stay at the file's value, unwritten.
        unnamed = {
            t.name
            for t in self.kf.tunables(self.problem)
            if t.kind == "host" and t.name not in self.space.values
        }
        configs = [
            {k: v for k, v in self.kf.full_config(self.problem, c).items() if k not in unnamed}
            for c in self.space.configs()
        ]
        done = {  # a cancelled trial (recorded by an older version) is compiled again
            config_key(t.config): t
            for t in self._mine()
            if t.mode == "compile" and t.status is not Status.CANCELLED
        }
        todo = [c for c in configs if config_key(c) not in done]
        total = len(configs)
        self.on_event(
            SweepEvent("compile", total - len(todo), total, message=f"compiling for {self.gpu.sm}")
        )
        requests = [
            make_request(self.kf, self.problem, c, self.gpu, "compile", phase="inspect")
            for c in todo
        ]
        count = [total - len(todo)]
        made: dict[str, Candidate] = {}

        def got(index: int, result: TrialResult) -> None:
            if result.status is Status.CANCELLED:
                return  # not recorded: a resumed sweep compiles it then
            result.mode = "compile"
            trial = self._record(result, save=False)
            done[config_key(trial.config or todo[index])] = trial
            made[config_key(todo[index])] = candidate = self._candidate(todo[index], trial)
            with self._lock:
                count[0] += 1
                event = SweepEvent("compile", count[0], total, candidate=candidate)
            self.on_event(event)

        if requests:
            self.runner.run(requests, on_result=got, cancel=self.cancel)
        self.session.save()
        return [
            made.get(config_key(c)) or self._candidate(c, done.get(config_key(c))) for c in configs
        ]

    def _candidate(self, config: Config, trial: TrialResult | None) -> Candidate:
        if trial is None:
            return Candidate(config=config, fits=False, reason="not compiled (cancelled)")
        report = trial.inspect
        if not trial.ok or report is None:
            return Candidate(
                config=config,
                fits=False,
                reason=f"{trial.status}: {trial.message}",
                compile_trial=trial.id,
            )
        res, occ = report.resources, report.occupancy
        out = Candidate(
            config=config, fits=True, compile_trial=trial.id, registers=res.registers,
            spill_bytes=res.spill_bytes, occupancy=occ.fraction, limiter="+".join(occ.limiters),
        )  # fmt: skip
        if res.spill_bytes > self.spec.max_spill_bytes:
            out.fits = False
            out.reason = f"spills {res.spill_bytes} B per thread (limit {self.spec.max_spill_bytes} B, --max-spill)"
            return out
        if occ.blocks_per_sm == 0:
            out.fits, out.reason = False, f"0 blocks per SM: {occ.reason}"
            return out
        try:  # the trial's own config (its inspect record keeps none) and the file's precision
            out.predicted_ms = predict_trial(
                trial, self.problem, self.gpu, self.calibration, source=self.kf.source
            ).ms
        except ValueError as err:
            out.fits, out.reason = False, f"no prediction: {err}"
        return out

    # --- stage 2 ----------------------------------------------------------------------------
    def _measure(
        self, configs: list[Config], *, screen: bool, stage: str, total: int, start: int
    ) -> list[TrialResult]:
        """Trials of `configs` in `self.spec.mode`, recorded as they come (resumed ones reused)."""
        mode = self.spec.mode
        kind = "screen" if screen else "full"
        have = {
            config_key(t.config): t
            for t in self._mine()
            if t.mode == mode
            and t.extra.get("sweep_stage") == kind
            and t.status is not Status.CANCELLED
        }
        out: dict[str, TrialResult] = {
            k: have[k] for k in (config_key(c) for c in configs) if k in have
        }
        todo = [c for c in configs if config_key(c) not in out]
        deadline = self._deadline()
        if deadline is not None and time.monotonic() > deadline:
            self.notes.append(f"time budget spent: {len(todo)} configs not {kind}-measured")
            todo = []
        requests: list[TrialRequest] = [
            make_request(self.kf, self.problem, c, self.gpu, mode, screen=screen) for c in todo
        ]
        count = [start + len(out)]

        def got(index: int, result: TrialResult) -> None:
            if result.status is Status.CANCELLED:
                return  # not recorded: a resumed sweep measures it then
            result.extra["sweep_stage"] = kind
            trial = self._record(result)
            out[config_key(todo[index])] = trial
            count[0] += 1
            row = self._ranked(trial, None)
            self.on_event(SweepEvent(stage, count[0], total, best=self.best_so_far(), row=row))

        if requests:
            self.runner.run(requests, on_result=got, cancel=self.cancel)
        return [out[k] for k in (config_key(c) for c in configs) if k in out]

    def _deadline(self) -> float | None:
        if self.spec.time_budget_s is None:
            return None
        return self._started + self.spec.time_budget_s

    def best_so_far(self) -> Ranked | None:
        trials = [t for t in self._mine() if t.correct and t.mode == "gpu"]
        if not trials:
            return None
        full = [t for t in trials if t.kernelbench_ms is not None]
        pool = full or trials
        best = min(
            pool,
            key=lambda t: (
                t.kernelbench_ms if t.kernelbench_ms is not None else (t.kernel_only_ms or math.inf)
            ),
        )
        return self._ranked(best, None)

    def _ranked(self, t: TrialResult, predicted: float | None) -> Ranked:
        res = t.resources
        occ = t.inspect.occupancy if t.inspect else None
        repeats = t.kernelbench_timing.repeats if t.kernelbench_timing else []
        kb_ms, speedup, runs = t.kernelbench_ms, t.kernelbench_speedup, []
        if kb_ms is not None and repeats:
            # Ranked on the mean of every full KernelBench run of the config, not on its first:
            # on the H200 two runs of one config differed by up to 17 %, more than the top
            # configs differ from each other.
            runs = [kb_ms, *repeats]
            mean = statistics.fmean(runs)
            speedup = speedup * kb_ms / mean if speedup is not None else None
            kb_ms = mean
        return Ranked(
            config=t.config, status=str(t.status), trial=t.id, predicted_ms=predicted,
            kernelbench_ms=kb_ms, kernel_only_ms=t.kernel_only_ms,
            speedup=speedup, rel_error=t.correctness.rel_error if t.correctness else None,
            correct=t.correct, registers=res.registers if res else None,
            spill_bytes=res.spill_bytes if res else None, occupancy=occ.fraction if occ else None,
            limiter="+".join(occ.limiters) if occ else "", runs_ms=runs,
        )  # fmt: skip

    def run(self) -> SweepResult:
        self._started = time.monotonic()
        candidates = self.compile_all()
        fitting = sorted(
            (c for c in candidates if c.fits), key=lambda c: c.predicted_ms or math.inf
        )
        dropped: dict[str, int] = {}
        for c in candidates:
            if not c.fits:
                word = c.reason.split(":")[0].split(" ")[0]
                dropped[word] = dropped.get(word, 0) + 1
        predicted = {config_key(c.config): c.predicted_ms for c in fitting}
        ranked: list[Ranked] = []
        winner: Ranked | None = None
        basis = ""
        if self.spec.mode == "compile" or not fitting:
            basis = f"predicted (stage 1 only, compiled for {self.gpu.sm}): nothing measured"
            if fitting:
                ranked = [self._predicted_row(c) for c in fitting]
                winner = ranked[0]
        elif self.spec.mode == "interpreter":
            ranked, winner, basis = self._check_in_interpreter(fitting, predicted)
        else:
            ranked, winner, basis = self._measure_on_gpu(fitting, predicted)
        state = "cancelled" if self.cancel is not None and self.cancel.is_set() else "done"
        wall = time.monotonic() - self._started
        measured = len({r.trial for r in ranked if r.trial is not None and r.status != "predicted"})
        result = SweepResult(
            spec=self.spec, sweep=self.sweep_id, kernel=str(self.kf.path), problem=problem_id(self.problem),
            space_size=len(candidates), fits=len(fitting),
            dropped=dropped, measured=measured, ranked=ranked, winner=winner, winner_basis=basis,
            device=self._device(), wall_s=wall, gpu_s=self._gpu_s,
            seconds_per_config=(self._gpu_s / measured) if measured and self.spec.mode == "gpu" else None,
            rank_correlation=spearman([(r.predicted_ms, r.kernelbench_ms or r.kernel_only_ms) for r in ranked]),
            notes=self.notes, resumed=self.resumed,
        )  # fmt: skip
        self._update(state=state, finished=now_utc(), winner_trial=winner.trial if winner else None,
                     summary={"fits": result.fits, "measured": measured, "wall_s": round(wall, 1)})  # fmt: skip
        self.on_event(SweepEvent("done", 1, 1, best=winner))
        return result

    def _device(self) -> str:
        gpu_trials = [t for t in self._mine() if t.mode == self.spec.mode and t.device]
        return (
            gpu_trials[-1].device
            if gpu_trials
            else ("none (compile only)" if self.spec.mode == "compile" else "")
        )

    def _predicted_row(self, c: Candidate) -> Ranked:
        return Ranked(
            config=c.config, status="predicted", trial=c.compile_trial, predicted_ms=c.predicted_ms,
            kernelbench_ms=None, kernel_only_ms=None, speedup=None, rel_error=None, correct=False,
            registers=c.registers, spill_bytes=c.spill_bytes, occupancy=c.occupancy, limiter=c.limiter,
        )  # fmt: skip

    def _check_in_interpreter(
        self, fitting: list[Candidate], predicted: dict[str, float | None]
    ) -> tuple[list[Ranked], Ranked | None, str]:
        top = [c.config for c in fitting[: self.spec.top_k]]
        trials = self._measure(top, screen=False, stage="check", total=len(top), start=0)
        ranked = [self._ranked(t, predicted.get(config_key(t.config))) for t in trials]
        rest = [self._predicted_row(c) for c in fitting[self.spec.top_k :]]
        correct = [r for r in ranked if r.correct]
        winner = correct[0] if correct else None
        basis = (
            "predicted fastest among the configs checked correct in the interpreter (reduced problem;"
            " no GPU here, so no time was measured)"
        )
        return ranked + rest, winner, basis

    def _measure_on_gpu(
        self, fitting: list[Candidate], predicted: dict[str, float | None]
    ) -> tuple[list[Ranked], Ranked | None, str]:
        rng = random.Random(self.spec.seed)
        if self.spec.strategy == "guided":
            picks = self._guided(fitting)
        else:
            picks = strategies.pick(self.spec.strategy, fitting, self.spec.budget, rng)
        unpicked = [c for c in fitting if c.config not in picks]
        checks = (
            []
            if self.spec.strategy == "grid"
            else [c.config for c in rng.sample(unpicked, min(RANKING_CHECKS, len(unpicked)))]
        )
        order = picks + checks
        screened = self._measure(order, screen=True, stage="screen", total=len(order), start=0)
        correct = sorted(
            (t for t in screened if t.correct and t.kernel_only_ms),
            key=lambda t: t.kernel_only_ms or math.inf,
        )
        top = [t.config for t in correct[: self.spec.top_k]]
        full = self._measure(top, screen=False, stage="confirm", total=len(top), start=0)
        self._retime(full, predicted)
        by_key = {config_key(t.config): t for t in full}
        rows = self._final_rows(by_key, screened, predicted)
        timed = [r for r in rows if r.correct and r.kernelbench_ms is not None]
        if len(timed) > 1 and tie_note(timed[0], timed[1]) and not self._out_of_time():
            # Within noise after two runs each: more runs, alternating, before naming a winner.
            pair = [by_key[config_key(r.config)] for r in timed[:2]]
            self._time_again(pair, rounds=TIE_BREAK_RUNS)
            rows = self._final_rows(by_key, screened, predicted)
            timed = [r for r in rows if r.correct and r.kernelbench_ms is not None]
            self.notes.append(tie_break_note(timed[0], timed[1]))
        elif len(timed) > 1 and (tie := tie_note(timed[0], timed[1])):
            self.notes.append(tie)
        winner = timed[0] if timed else None
        return (
            rows,
            winner,
            f"measured with KernelBench's protocol on {self._device()} (screened, then the top {len(top)} in full, each twice; a tied top two five times)",
        )

    def _final_rows(
        self,
        by_key: dict[str, TrialResult],
        screened: list[TrialResult],
        predicted: dict[str, float | None],
    ) -> list[Ranked]:
        """The confirmed configs by the mean of their full runs, then the screened rest."""
        rows = [self._ranked(by_key[k], predicted.get(k)) for k in by_key]
        rows.sort(
            key=lambda r: (
                not r.correct,
                r.kernelbench_ms if r.kernelbench_ms is not None else math.inf,
            )
        )
        shown = {config_key(r.config) for r in rows}
        return rows + [
            self._ranked(t, predicted.get(config_key(t.config)))
            for t in screened
            if config_key(t.config) not in shown
        ]

    def _out_of_time(self) -> bool:
        deadline = self._deadline()
        cancelled = self.cancel is not None and self.cancel.is_set()
        return cancelled or (deadline is not None and time.monotonic() > deadline)

    def _guided(self, fitting: list[Candidate]) -> list[Config]:
        """Measure the most promising, refit the model's device constants on what was measured,
        re-rank the rest, repeat until the budget or the time budget is spent."""
        budget = self.spec.budget or max(4, len(fitting) // 4)
        measured: dict[str, TrialResult] = {}
        compiles = {t.id: t for t in self._mine() if t.mode == "compile"}
        ranker = strategies.Refit(self.problem, self.gpu, self.kf.source, self.calibration)
        for c in fitting:
            trial = compiles.get(c.compile_trial)
            if trial is not None:
                ranker.add_candidate(c, trial)
        rounds = 0
        while len(measured) < min(budget, len(fitting)):
            ranking = ranker.ranking(fitting, measured)
            batch = [c.config for c in ranking if config_key(c.config) not in measured][
                : max(2, budget // 4)
            ]
            batch = batch[: budget - len(measured)]
            if not batch:
                break
            for t in self._measure(
                batch, screen=True, stage="screen", total=budget, start=len(measured)
            ):
                measured[config_key(t.config)] = t
            rounds += 1
            if self._out_of_time():
                break
        self.notes.append(
            f"guided: {len(measured)} of {len(fitting)} configs screened in {rounds} rounds; {ranker.how}"
        )
        return [t.config for t in measured.values()]

    def _retime(self, full: list[TrialResult], predicted: dict[str, float | None]) -> None:
        """Time every confirmed config again, in reverse order, before choosing among them: one
        run of KernelBench's protocol is noisier than the top configs' differences."""
        correct = [t for t in full if t.correct and t.kernelbench_ms is not None]
        if not correct:
            return
        suspicious = [
            t for t in correct
            if (p := predicted.get(config_key(t.config))) and t.kernelbench_ms and p / t.kernelbench_ms > SUSPICIOUS
        ]  # fmt: skip
        self._time_again(list(reversed(correct)))
        if suspicious:
            self.notes.append(
                f"{len(suspicious)} configs ran over {SUSPICIOUS}x faster than predicted: timed again"
            )

    def _time_again(self, trials: list[TrialResult], rounds: int = 1) -> None:
        """Full KernelBench runs of `trials` again, `rounds` times in turn (A, B, A, B, ...),
        each appended to its trial's repeats and recorded in the session."""
        originals = [t for _ in range(rounds) for t in trials]
        requests = [
            make_request(self.kf, self.problem, t.config, self.gpu, self.spec.mode)
            for t in originals
        ]

        def got(index: int, result: TrialResult) -> None:
            if result.status is Status.CANCELLED:
                return
            original = originals[index]
            if result.kernelbench_ms is not None and original.kernelbench_timing is not None:
                original.kernelbench_timing.repeats.append(result.kernelbench_ms)
            result.extra["sweep_stage"] = "retime"
            self._record(result)

        if requests:
            self.runner.run(requests, on_result=got, cancel=self.cancel)
            self.session.save()


def tie_break_note(winner: Ranked, runner_up: Ranked) -> str:
    """What the tie-break's extra runs said: still a tie, or the winner by how much."""
    runs = f"{len(winner.runs_ms)} and {len(runner_up.runs_ms)} full runs"
    tie = tie_note(winner, runner_up)
    if tie is not None:
        return f"{tie}, after {runs} (the winner is the lower mean; either is as good)"
    assert winner.kernelbench_ms is not None and runner_up.kernelbench_ms is not None
    gap = 100 * (runner_up.kernelbench_ms / winner.kernelbench_ms - 1)
    return (
        f"the top two were within noise after two runs each; with {runs} the winner is "
        f"{gap:.1f} % faster on the mean than {short_config(runner_up.config)}"
    )


def tie_note(winner: Ranked, runner_up: Ranked) -> str | None:
    """A note when the gap between the two means is within twice its standard error (from the
    two configs' own runs): more runs shrink it, so a tie-break can separate them."""
    runs = [r.runs_ms for r in (winner, runner_up)]
    if (
        winner.kernelbench_ms is None
        or runner_up.kernelbench_ms is None
        or not all(len(x) > 1 for x in runs)
    ):
        return None
    noise = 2 * math.sqrt(sum(statistics.variance(x) / len(x) for x in runs))
    gap = runner_up.kernelbench_ms - winner.kernelbench_ms
    if gap > noise:
        return None
    return (
        f"a tie: the runner-up ({short_config(runner_up.config)}) is {100 * gap / winner.kernelbench_ms:.1f} % "
        f"slower on the mean, within twice the standard error of the difference "
        f"({100 * noise / winner.kernelbench_ms:.1f} %) from their own runs"
    )


def spearman(pairs: list[tuple[float | None, float | None]]) -> float | None:
    """Rank correlation of predicted vs measured times (None with fewer than 3 pairs)."""
    points = [(a, b) for a, b in pairs if a is not None and b is not None]
    if len(points) < 3:
        return None

    def ranks(values: list[float]) -> list[float]:
        order = sorted(range(len(values)), key=lambda i: values[i])
        out = [0.0] * len(values)
        for rank, i in enumerate(order):
            out[i] = float(rank)
        return out

    ra, rb = ranks([p[0] for p in points]), ranks([p[1] for p in points])
    n = len(points)
    mean = (n - 1) / 2
    cov = sum((x - mean) * (y - mean) for x, y in zip(ra, rb))
    var = sum((x - mean) ** 2 for x in ra)
    return cov / var if var else None
