"""The training loop: critic_step(), generator_step(), train(). Prints nothing."""

from __future__ import annotations

import functools
import math
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from textgan.config import DIST_TIMEOUT, TrainConfig
from textgan.data.corpus import EncodedCorpus
from textgan.engines.choice import choose_engine
from textgan.errors import TextganError
from textgan.evaluation.evaluator import Evaluator
from textgan.models.build import ModelSpec
from textgan.rundir import records, runlog
from textgan.rundir.checkpoint import (
    checkpoint_path,
    latest_checkpoint,
    list_checkpoints,
)
from textgan.rundir.schema import Checkpoint
from textgan.rundir.status import (
    REASON_ITERS,
    REASON_MINUTES,
    REASON_NAN,
    REASON_SIGNAL,
    STATUS,
    RunStatus,
    clear_status,
    write_status,
)
from textgan.runtime.device import training_settings
from textgan.training.distributed import World, any_rank, broadcast, joined, process_group
from textgan.training.language import run_iteration
from textgan.training.launch import (
    ConfigSource,
    Plan,
    on_main,
    settle,
    shared_checkpoint,
)
from textgan.training.leaders import main_first
from textgan.training.signals import interrupted, stop_signals
from textgan.training.state import TrainState, build_state, write_checkpoint
from textgan.training.steps import Iteration
from textgan.training.tensorboard import (
    SAMPLES_SHOWN,
    TB_DIR,
    TensorBoardLog,
    require_tensorboard,
)


@dataclass(frozen=True)
class StepStats:
    """What one iteration did: the values it logs, by their metrics names (records.py), e.g. a
    GAN's critic_loss, generator_loss (from its second iteration on), wasserstein and, with a
    penalty, gp."""

    iteration: int  # iterations completed so far
    losses: dict[str, float]
    seconds: float  # since this process started training
    finite: bool = True  # every value logged this iteration is finite

    @property
    def critic_loss(self) -> float:
        return self.losses.get(records.CRITIC_LOSS, math.nan)

    @property
    def generator_loss(self) -> float:
        """nan at a GAN's very first iteration, which makes no generator step."""
        return self.losses.get(records.GENERATOR_LOSS, math.nan)

    @property
    def wasserstein(self) -> float:
        """E[D(real)] − E[D(fake)] on the last critic batch, for every loss."""
        return self.losses.get(records.WASSERSTEIN, math.nan)

    @property
    def gp(self) -> float | None:
        """The unweighted penalty (gp, lp); None without one."""
        return self.losses.get(records.GP)


@dataclass(frozen=True, kw_only=True)
class RunInfo:
    """Handed to on_start before the first iteration."""

    run_dir: Path
    config: TrainConfig
    device: torch.device
    precision: str
    conv: str | None  # how the fused engine's convs run (conv.CONV_IMPLS); None: autograd
    engine: str  # fused or autograd
    engine_reason: str  # why that engine
    vocab_size: int
    num_lines: int
    start_iteration: int
    resumed: bool
    heldout_source: str
    floor: dict[str, float]  # floor_js1..floor_js4; empty when evaluation is off
    corpus_cached: bool  # the encoded corpus was loaded from its cache
    corpus_cache_dir: Path | None  # where the encoding is cached; None: it could not be
    world_size: int = 1  # processes training together (torchrun); the batch is per process
    reseeded_from: str | None = None  # the random streams were saved on this other device type
    rates_changed: str | None = None  # resumed with other learning rates: which, and how


NEWEST = "newest"  # _Run.record_status: the run dir's newest checkpoint (rank 0 looks it up)
STOPPED_AT_ITERS = "iters"  # TrainResult.stopped: the run reached --iters
STOPPED_BY_MINUTES = "minutes"  # its --minutes budget ran out first


@dataclass(frozen=True)
class TrainResult:
    run_dir: Path
    iteration: int
    checkpoint: Path
    last: StepStats | None
    seconds: float = 0.0  # the run's training time, earlier processes' (before --resume) included
    stopped: str = STOPPED_AT_ITERS  # why training ended: STOPPED_AT_ITERS or STOPPED_BY_MINUTES
    config: TrainConfig | None = None  # the run's, as rank 0 settled it


def train(
    config: ConfigSource,
    corpus: str | Path,
    run_dir: str | Path | None = None,
    *,
    heldout: str | Path | None = None,
    resume: bool = False,
    resume_if_exists: bool = False,
    on_start: Callable[[RunInfo], None] | None = None,
    on_step: Callable[[StepStats], None] | None = None,
    on_eval: Callable[[dict[str, Any]], None] | None = None,
    generator: ModelSpec = None,
    critic: ModelSpec = None,
    clock: Callable[[], float] = time.perf_counter,
) -> TrainResult:
    """Train (or, with resume, continue) a run up to config.iters iterations in total, or until
    the first iteration that ends past config.minutes of the run's training time (the clock of
    StepStats.seconds, earlier processes' time included); TrainResult.stopped says which.
    resume_if_exists (implied when torchrun restarted the workers): resume when run_dir holds a
    checkpoint, else start the run. config: a TrainConfig, or a function that makes it from
    whether the run resumes (called by rank 0 alone, e.g. to read a resumed run's own).

    generator, critic: your own models (or callables that make them from the run's
    ModelConfig) instead of the built-in conv ResNets — a generator maps noise (B, noise_dim)
    to per-position probabilities (B, L, V) and has an int attribute noise_dim; a critic maps
    (B, L, V) to scores (B,). To resume such a run, pass models of the same classes. With a loss
    that trains no critic (config.loss "mle"), generator is your language model instead: ids
    (B, L) → logits (B, L, V), position t's from the ids before t alone (models/language.py).

    Every config.eval_every iterations (and at a stop by --minutes) the generator is scored
    (js1..js4 and word measures) and the critic too (critic_train, critic_heldout, critic_gap:
    evaluation.critic_estimate), or a language model's held-out bits per character
    (heldout_bpc); the scores go to metrics.jsonl, the samples to samples.txt, and the record to
    on_eval. clock: seconds, the measure of the training time.
    Launched by torchrun, the processes train one run together; rank 0 alone reads and writes
    the run dir and calls the callbacks (launch.py), and a process that fails ends the job
    (peers.py). When training stops, status.json in the run dir says why (rundir.status);
    with config.tensorboard, rank 0 also writes TensorBoard events to RUN/tb/ (tensorboard.py).
    """
    timeout = config.dist_timeout if isinstance(config, TrainConfig) else DIST_TIMEOUT
    with joined(timeout) as world:
        plan = settle(world, config, corpus, run_dir, resume=resume,
                      resume_if_exists=resume_if_exists or world.attempt > 0)  # fmt: skip
        if plan.config.needs_critic:  # an impossible --engine: before any work
            choose_engine(plan.config, generator, critic)
        if plan.config.tensorboard:
            require_tensorboard()  # before anything is written
        with (
            process_group(plan.config.device, world, plan.config.dist_timeout) as (world, device),
            training_settings(device, plan.config.precision),
        ):
            saved = shared_checkpoint(world, device, plan)
            return _train(plan, world, device, saved, corpus, heldout,
                          _Hooks(on_start, on_step, on_eval, generator, critic, clock))  # fmt: skip


@dataclass(frozen=True)
class _Hooks:
    """What a caller of train() brings besides the run's settings."""

    on_start: Callable[[RunInfo], None] | None
    on_step: Callable[[StepStats], None] | None
    on_eval: Callable[[dict[str, Any]], None] | None
    generator: ModelSpec
    critic: ModelSpec
    clock: Callable[[], float]


def _train(
    plan: Plan,
    world: World,
    device: torch.device,
    saved: Checkpoint | None,
    corpus: str | Path,
    heldout: str | Path | None,
    hooks: _Hooks,
) -> TrainResult:
    config, run_dir, run_id = plan.config, plan.run_dir, plan.run_id
    if saved is not None:
        heldout = heldout if heldout is not None else saved.heldout
    state, encoded = build_state(config, corpus, saved, heldout, world=world, device=device,
                                 generator=hooks.generator, critic=hooks.critic,
                                 run_id=run_id)  # fmt: skip
    # a GAN's iteration: critic and generator steps on a gradient engine; a run that trains
    # no critic (its loss's needs_critic) a language model's step, with the same loop
    iterate, engine, engine_reason = run_iteration(state)
    evaluator = _evaluator(config, encoded, world, run_id)
    floor = evaluator.floor if evaluator is not None else {}
    on_main(world, _prepare_run_dir, run_dir, config, corpus, floor, saved, state.iteration)
    if hooks.on_start is not None and world.is_main:
        hooks.on_start(RunInfo(
            run_dir=run_dir, config=config, device=state.device,
            precision=engine.precision, conv=engine.conv, engine=engine.name,
            engine_reason=engine_reason, vocab_size=len(state.vocab),
            num_lines=len(encoded.ids), start_iteration=state.iteration,
            resumed=saved is not None, heldout_source=encoded.split.heldout_source,
            floor=floor, corpus_cached=encoded.cached, corpus_cache_dir=encoded.cache_dir,
            world_size=world.size, reseeded_from=state.reseeded_from,
            rates_changed=state.rates_changed,
        ))  # fmt: skip
    run = _Run(state, iterate, run_dir, corpus,
               encoded.split.heldout_source if heldout else None, hooks.clock)  # fmt: skip
    if config.tensorboard and world.is_main:
        options = {"corpus": str(corpus), **config.to_dict()}
        run.tensorboard = TensorBoardLog(run_dir, state.iteration, options)
    try:
        on_step = hooks.on_step if world.is_main else None
        last, stopped = _loop(run, evaluator, on_step, hooks.on_eval)
    finally:
        if run.tensorboard is not None:
            run.tensorboard.close()
    # every rank agrees that the run ended well: rank 0 sends the newest checkpoint's path
    checkpoint = broadcast(on_main(world, latest_checkpoint, run_dir), world)
    return TrainResult(run_dir, state.iteration, checkpoint, last, state.seconds, stopped, config)


def _evaluator(
    config: TrainConfig, encoded: EncodedCorpus, world: World, run_id: str
) -> Evaluator | None:
    """Rank 0's, which evaluates; its references take a pass over the corpus (minutes for a
    full one), which the other ranks wait out outside any collective."""
    if not config.eval_every:
        return None
    build = functools.partial(Evaluator, encoded, config.eval_samples, config.seed,
                              temperature=config.decoding_temperature(config.eval_temperature),
                              language_model=not config.needs_critic)  # fmt: skip
    return main_first(world, build, lambda: None, key=f"{run_id}/evaluation")


def _loop(
    run: _Run,
    evaluator: Evaluator | None,
    on_step: Callable[[StepStats], None] | None,
    on_eval: Callable[[dict[str, Any]], None] | None,
) -> tuple[StepStats | None, str]:
    """Train to --iters, or until --minutes run out: (the last iteration's stats, why it ended)."""
    state, config, last = run.state, run.state.config, None
    with stop_signals() as received:
        for last in _iterations(run.state, run.iterate, run.clock):
            # every rank stops at the same iteration (a stuck collective would hang the others):
            # after a signal to any rank, or when rank 0's clock says --minutes have run out
            out_of_time = state.world.is_main and run.out_of_time(last)
            flags = [not last.finite, bool(received), out_of_time]
            diverged, stop, timed_out = any_rank(flags, state.world, state.device)
            if diverged:
                run.record_status(REASON_NAN, last, NEWEST)
                values = ", ".join(f"{k} {v}" for k, v in last.losses.items())
                raise TextganError(f"training diverged: non-finite loss at iteration "
                                   f"{state.iteration} ({values}); the last checkpoint is "
                                   "kept")  # fmt: skip
            if on_step is not None:
                on_step(last)
            evaluate = evaluator is not None and (
                timed_out or _due(state.iteration, config.eval_every, config.iters)
            )
            run.log_step(last, evaluate, stop or timed_out or state.iteration == config.iters)
            if evaluate:
                record = run.evaluate(evaluator, last)
                if on_eval is not None:
                    on_eval(record)
            if stop or timed_out or _due(state.iteration, config.checkpoint_every, config.iters):
                path = run.checkpoint(last)
            if stop:
                error = interrupted(received, state.iteration, path)
                run.record_status(REASON_SIGNAL, last, path, signal=error.signal_name)
                raise error
            if timed_out:
                run.record_status(REASON_MINUTES, last, path)
                return last, STOPPED_BY_MINUTES
    run.record_status(REASON_ITERS, last, NEWEST)
    return last, STOPPED_AT_ITERS


def _newest(run_dir: Path) -> Path | None:
    checkpoints = list_checkpoints(run_dir)
    return checkpoints[-1] if checkpoints else None


def _prepare_run_dir(
    run_dir: Path,
    config: TrainConfig,
    corpus: str | Path,
    floor: dict[str, float],
    saved: Checkpoint | None,
    iteration: int,
) -> None:
    if saved is None:
        start_run_dir(run_dir, config, corpus, floor)
        return
    clear_status(run_dir)
    runlog.truncate_after(run_dir, iteration)
    try:  # the options a resume may change (--iters, --minutes, ...) as they now are
        runlog.write_json(run_dir / runlog.CONFIG, {"corpus": str(corpus), **config.to_dict()})
    except OSError as err:
        raise TextganError(f"cannot write to run dir {run_dir}: {err.strerror or err}") from err


def _iterations(
    state: TrainState, iterate: Iteration, clock: Callable[[], float]
) -> Iterator[StepStats]:
    """Run iterations to --iters, each iterate(state) and one read of its logged values."""
    start = clock()
    while state.iteration < state.config.iters:
        logged = iterate(state)  # {name: 0-d tensor on the run's device}
        values = torch.stack([v.detach().float() for v in logged.values()]).tolist()  # one sync
        losses = dict(zip(logged, values, strict=True))
        finite = all(math.isfinite(v) for v in values)
        yield StepStats(state.iteration, losses, clock() - start, finite)


def _due(iteration: int, every: int, total: int) -> bool:
    return iteration % every == 0 or iteration == total


@dataclass
class _Run:
    """Writes a run's outputs; keeps the training time across resumes."""

    state: TrainState
    iterate: Iteration
    run_dir: Path
    corpus: str | Path
    heldout: str | None
    clock: Callable[[], float]

    def __post_init__(self) -> None:
        self.offset = self.state.seconds
        self.tensorboard: TensorBoardLog | None = None  # rank 0's, with --tensorboard

    def log_step(self, stats: StepStats, evaluated: bool, last: bool) -> None:
        """The iteration's losses, clock and learning rates to TensorBoard (with one)."""
        if self.tensorboard is None:
            return
        optimizers = {"generator": self.state.opt_g, "critic": self.state.opt_c}
        rates = {name: opt.param_groups[0]["lr"] for name, opt in optimizers.items() if opt}
        self.tensorboard.step(stats.iteration, self.offset + stats.seconds, stats.losses, rates,
                              evaluated, last)  # fmt: skip

    def record_status(
        self,
        reason: str,
        stats: StepStats | None,
        checkpoint: Path | str | None,
        signal: str | None = None,
    ) -> None:
        """Rank 0 writes why training stopped into the run dir (status.json); checkpoint NEWEST:
        the newest in the run dir."""
        if not self.state.world.is_main:
            return
        checkpoint = _newest(self.run_dir) if checkpoint == NEWEST else checkpoint
        seconds = self.offset + stats.seconds if stats is not None else self.state.seconds
        write_status(self.run_dir, RunStatus(
            reason, self.state.iteration, self.state.config.iters, round(seconds, 3),
            signal=signal, checkpoint=checkpoint.name if checkpoint is not None else None,
        ))  # fmt: skip

    def out_of_time(self, stats: StepStats) -> bool:
        """The run's training time has reached --minutes (never, without one)."""
        minutes = self.state.config.minutes
        return minutes is not None and self.offset + stats.seconds >= 60 * minutes

    def evaluate(self, evaluator: Evaluator, stats: StepStats) -> dict[str, Any]:
        """Score the generator, and a critic (if the run has one) on training and held-out
        text; the run's weights, optimisers and random streams are left as they were."""
        state, seed = self.state, self.state.config.seed + stats.iteration
        result = evaluator(state.scored_generator, seed=seed)
        raw = {}  # with an average scored: what the generator itself scores, beside it
        if state.generator_ema is not None:
            raw_scores = evaluator(state.generator, seed=seed).scores
            raw = {records.raw(key): raw_scores[key] for key in records.JS}
        estimates = {} if state.critic is None else evaluator.critic_estimates(
            state.generator, state.critic, state.config.objective(), seed=seed)  # fmt: skip
        if not state.config.needs_critic:  # a language model: its likelihood of real text
            estimates[records.HELDOUT_BPC] = evaluator.heldout_bpc(state.scored_generator)
        record = {records.ITERATION: stats.iteration,
                  records.SECONDS: round(self.offset + stats.seconds, 3),
                  **stats.losses, **result.scores, **raw, **estimates}  # fmt: skip
        runlog.append_metrics(self.run_dir, record)
        runlog.append_samples(self.run_dir, stats.iteration, result.samples)
        if self.tensorboard is not None:
            self.tensorboard.evaluation(record, result.samples[:SAMPLES_SHOWN])
        return record

    def checkpoint(self, stats: StepStats) -> Path:
        """Rank 0 writes; every rank gets the path."""
        self.state.seconds = self.offset + stats.seconds
        path = checkpoint_path(self.run_dir, self.state.iteration)
        on_main(self.state.world, write_checkpoint, self.state, self.run_dir, self.corpus,
                 self.heldout)  # fmt: skip
        return path


def start_run_dir(
    run_dir: Path, config: TrainConfig, corpus: str | Path, floor: dict[str, float]
) -> None:
    """Create the run dir, write config.json and floor.json; never overwrite an existing run."""
    if list_checkpoints(run_dir):
        raise TextganError(
            f"{run_dir} already holds a run: add --resume, or pick another --run-dir"
        )
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        runlog.write_json(run_dir / runlog.CONFIG, {"corpus": str(corpus), **config.to_dict()})
        if floor:
            runlog.write_json(run_dir / runlog.FLOOR, floor)
        for stale in (runlog.METRICS, runlog.SAMPLES, STATUS):
            (run_dir / stale).unlink(missing_ok=True)
        shutil.rmtree(run_dir / TB_DIR, ignore_errors=True)  # a run that left no checkpoint
    except OSError as err:
        raise TextganError(f"cannot write to run dir {run_dir}: {err.strerror or err}") from err
