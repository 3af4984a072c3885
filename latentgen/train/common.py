"""What both trainers share: resumable run folders, learning-rate schedule, the loss plot, small helpers.

A run folder (e.g. out/train/vae/) holds
    model/           the latest weights in our checkpoint format (config.json + model.safetensors): loads through
                     the normal loaders (load_shapevae, load_shape_models) at any time during training
    optimizer.pt     optimizer state (torch.save; read back with weights_only=True)
    state.json       step, seconds trained, options, history of logged losses and held-out metrics
    curve.png        the learning curves, redrawn at every checkpoint
Everything is written atomically, state.json last, so an interrupted run resumes from the last complete checkpoint.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw

from ..errors import ConfigError, InputError
from ..files import atomic_path

ProgressFn = Callable[[str, float], None]
LogFn = Callable[[str], None]

STATE_FORMAT = "latentgen.trainstate/1"


def _quiet(phase: str, fraction: float) -> None: ...


def _silent(line: str) -> None: ...


def cosine_lr(step: int, total: int, peak: float, warmup: int, floor: float = 0.05) -> float:
    """Linear warm-up to `peak`, then cosine decay to floor * peak at `total`."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return peak * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress)))


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def seed_everything(seed: int) -> torch.Generator:
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    return torch.Generator().manual_seed(seed)


def jsonable(obj: Any) -> Any:
    if is_dataclass(obj):
        return json.loads(json.dumps(asdict(obj)))
    return json.loads(json.dumps(obj))


@dataclass
class RunState:
    """Progress of one training run: what state.json holds."""

    step: int = 0
    seconds: float = 0.0
    history: list[dict] = field(default_factory=list)  # {"step", "seconds", "loss", ...} and eval rows
    extra: dict = field(default_factory=dict)  # trainer-specific (e.g. the DiT's scale_factor)

    def log(self, **row: float) -> None:
        self.history.append({"step": self.step, "seconds": round(self.seconds, 1), **row})


def read_state(run: Path, options: Any) -> RunState | None:
    """The saved RunState of `run`, or None for a fresh run. A run made with other options is refused, except for
    the step count (a finished run can be continued for more steps) and settings that do not change training."""
    path = Path(run) / "state.json"
    if not path.is_file():
        return None
    raw = json.loads(path.read_text())
    if raw.get("format") != STATE_FORMAT:
        raise ConfigError(f"{path}: not a {STATE_FORMAT} file")
    # an option added since the run started is read as what the run did without it: the options class's
    # BEFORE_ADDED value where its default has changed since, else its default
    before = getattr(type(options), "BEFORE_ADDED", {})
    saved, now = {**jsonable(type(options)()), **before, **raw["options"]}, jsonable(options)
    # none of these changes what is trained: candidates and resolution only go into the exported pipeline.json
    for key in ("steps", "checkpoint_seconds", "threads", "eval_every", "candidates", "resolution"):
        saved.pop(key, None)
        now.pop(key, None)
    if saved != now:
        diff = sorted(k for k in set(saved) | set(now) if saved.get(k) != now.get(k))
        raise ConfigError(f"{run}: was started with other options ({', '.join(diff)}); use a new folder or no --resume")
    return RunState(raw["step"], raw["seconds"], raw["history"], raw.get("extra", {}))


def write_state(run: Path, state: RunState, options: Any) -> None:
    raw = {
        "format": STATE_FORMAT,
        "step": state.step,
        "seconds": round(state.seconds, 1),
        "options": jsonable(options),
        "extra": state.extra,
        "history": state.history,
    }
    with atomic_path(Path(run) / "state.json") as tmp:
        tmp.write_text(json.dumps(raw, indent=1) + "\n")


def save_optimizer(
    run: Path, optimizer: torch.optim.Optimizer, generator: torch.Generator, extra: dict | None = None
) -> None:
    """optimizer.pt: the optimizer, the training generator and any trainer-specific tensors (`extra`)."""
    with atomic_path(Path(run) / "optimizer.pt") as tmp:
        torch.save({"optimizer": optimizer.state_dict(), "generator": generator.get_state(), "extra": extra or {}}, tmp)


def load_optimizer(run: Path, optimizer: torch.optim.Optimizer, generator: torch.Generator) -> dict:
    """Restore what save_optimizer wrote; returns its `extra` ({} for files written without one)."""
    saved = torch.load(Path(run) / "optimizer.pt", map_location="cpu", weights_only=True)
    optimizer.load_state_dict(saved["optimizer"])
    generator.set_state(saved["generator"])
    return saved.get("extra", {})


class Clock:
    """Training seconds (excluding evaluation and checkpoint writing) and when to checkpoint next."""

    def __init__(self, every_s: float, start: float = 0.0):
        self.every_s, self.total, self._t, self._last_ckpt = every_s, start, time.perf_counter(), time.perf_counter()

    def tick(self) -> float:
        now = time.perf_counter()
        self.total += now - self._t
        self._t = now
        return self.total

    def pause_until_now(self) -> None:
        self._t = time.perf_counter()

    def checkpoint_due(self) -> bool:
        return time.perf_counter() - self._last_ckpt >= self.every_s

    def checkpointed(self) -> None:
        self._last_ckpt = time.perf_counter()


def open_run(run: Path, options: Any, resume: bool) -> RunState | None:
    """The saved state to resume from (None: a fresh run). Never overwrites a run unless asked to resume it."""
    state = read_state(run, options) if resume else None
    if state is None and (Path(run) / "state.json").exists():
        raise InputError(f"{run}: holds a training run already; pass --resume to continue it or use a new folder")
    return state


StepFn = Callable[[int], tuple[torch.Tensor, dict]]  # step -> (loss, extra floats to log)
EvalFn = Callable[[bool], tuple[dict, str]]  # is_last -> (metrics, one-line summary)


def optimise(
    state: RunState,
    opts: Any,
    params: list[torch.nn.Parameter],
    optimizer: torch.optim.Optimizer,
    step_loss: StepFn,
    evaluate: EvalFn,
    checkpoint: Callable[[], None],
    log: LogFn,
    after_step: Callable[[], None] | None = None,
) -> RunState:
    """The loop both trainers run: cosine learning rate, clipped steps, a log line every 25 steps, held-out
    evaluation every opts.eval_every steps, a checkpoint every opts.checkpoint_seconds of training, and both
    at the last step; after_step runs after every optimizer step (e.g. a weight average). Batches must be a
    function of the step (step_loss(step)) so a resumed run is the same."""
    clock = Clock(opts.checkpoint_seconds, state.seconds)
    window: list[dict] = []
    t_log = time.perf_counter()
    while state.step < opts.steps:
        lr = cosine_lr(state.step, opts.steps, opts.lr, opts.warmup)
        set_lr(optimizer, lr)
        loss, parts = step_loss(state.step)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, opts.grad_clip)
        optimizer.step()
        if after_step is not None:
            after_step()
        state.step += 1
        state.seconds = clock.tick()
        window.append({"loss": loss.item(), **parts})
        if state.step % 25 == 0 or state.step == opts.steps:
            row = {k: float(np.mean([w[k] for w in window])) for k in window[0]}
            rate = len(window) / max(time.perf_counter() - t_log, 1e-9)
            state.log(**row, lr=lr)
            values = " ".join(f"{k} {v:.4f}" for k, v in row.items())
            log(f"step {state.step}/{opts.steps} {values} lr {lr:.2e} {rate:.2f} it/s")
            window, t_log = [], time.perf_counter()
        last = state.step == opts.steps
        if (opts.eval_every and state.step % opts.eval_every == 0) or last:
            metrics, summary = evaluate(last)
            state.log(**{"heldout_" + k: v for k, v in metrics.items()})
            log(f"step {state.step} {summary} ({state.seconds / 60:.1f} min)")
            clock.pause_until_now()
        if clock.checkpoint_due() or last:
            checkpoint()
            clock.checkpointed()
            clock.pause_until_now()
            t_log = time.perf_counter()
    return state


# ---------------------------------------------------------------------------------------------- loss plot

_COLOURS = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189), (255, 127, 14), (23, 190, 207)]


def plot_curves(
    path: Path, panels: list[tuple[str, dict[str, list[tuple[float, float]]], bool]], size=(900, 330)
) -> None:
    """Draw side-by-side line plots with PIL and save them as PNG.

    panels: (title, {series name: [(x, y), ...]}, log_y). x is the training step."""
    w, h = size
    img = Image.new("RGB", (w * len(panels), h), "white")
    draw = ImageDraw.Draw(img)
    for p, (title, series, log_y) in enumerate(panels):
        _panel(draw, p * w, w, h, title, series, log_y)
    with atomic_path(Path(path)) as tmp:
        img.save(tmp, format="PNG")


def _panel(draw: ImageDraw.ImageDraw, x0: int, w: int, h: int, title: str, series: dict, log_y: bool) -> None:
    left, right, top, bottom = x0 + 60, x0 + w - 15, 28, h - 30
    draw.text((x0 + 60, 8), title, fill="black")
    draw.rectangle([left, top, right, bottom], outline="black")
    pts = [(x, y) for s in series.values() for x, y in s if y is not None and math.isfinite(y) and (y > 0 or not log_y)]
    if not pts:
        return
    f = (lambda v: math.log10(v)) if log_y else (lambda v: v)
    xs, ys = [x for x, _ in pts], [f(y) for _, y in pts]
    xmin, xmax = 0.0, max(max(xs), 1)  # every panel starts at step 0, so curves line up
    ymin, ymax = min(ys), max(ys)
    if ymax - ymin < 1e-9:
        ymin, ymax = ymin - 0.5, ymax + 0.5

    def to_px(x: float, y: float) -> tuple[float, float]:
        return (
            left + (x - xmin) / (xmax - xmin) * (right - left),
            bottom - (f(y) - ymin) / (ymax - ymin) * (bottom - top),
        )

    for k in range(5):  # y ticks
        v = ymin + (ymax - ymin) * k / 4
        py = bottom - (bottom - top) * k / 4
        draw.line([left - 4, py, left, py], fill="black")
        draw.text((x0 + 2, py - 6), f"{10**v:.3g}" if log_y else f"{v:.3g}", fill="black")
    for k in range(5):  # x ticks
        v = xmin + (xmax - xmin) * k / 4
        px = left + (right - left) * k / 4
        draw.line([px, bottom, px, bottom + 4], fill="black")
        draw.text((px - 12, bottom + 6), f"{v:.0f}", fill="black")
    for i, (name, s) in enumerate(series.items()):
        colour = _COLOURS[i % len(_COLOURS)]
        line = [to_px(x, y) for x, y in s if y is not None and math.isfinite(y) and (y > 0 or not log_y)]
        if len(line) > 1:
            draw.line(line, fill=colour, width=2)
        elif line:
            draw.ellipse([line[0][0] - 2, line[0][1] - 2, line[0][0] + 2, line[0][1] + 2], fill=colour)
        draw.text((right - 150, top + 6 + 14 * i), name, fill=colour)


def series(history: list[dict], key: str, smooth: int = 1) -> list[tuple[float, float]]:
    """(step, value) pairs of `key` from the history rows that have it, optionally a running mean over `smooth`."""
    rows = [(r["step"], float(r[key])) for r in history if r.get(key) is not None]
    if smooth <= 1:
        return rows
    out, acc = [], []
    for step, v in rows:
        acc.append(v)
        acc = acc[-smooth:]
        out.append((step, sum(acc) / len(acc)))
    return out
