"""What every `videomae-minimal` command shares: the user-error exception, argparse's number types, the progress
line, JSON output, pictures written atomically, loading a checkpoint. Hand-written (no notebook): the command line."""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import torch

from .checkpoint_formats import PRESETS, from_pretrained
from .config import VideoMAEConfig
from .files import write_atomic

__all__ = ["CommandError", "integer", "number", "to_json", "progress", "save_figure_atomic", "existing_file",
           "load_model"]


class CommandError(Exception):
    "A problem with the user's input, reported as one line and exit status 2."


_START = time.perf_counter()


def integer(minimum: int):
    "An argparse type: an integer of at least `minimum`. argparse's error names the flag: `argument --rate: ...`."
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value
    return parse


def number(minimum: float, above: bool = False):
    "An argparse type: a finite number, at least `minimum` (or above it)."
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not math.isfinite(value) or value < minimum or (above and value == minimum):
            raise argparse.ArgumentTypeError(f"must be a finite number {'above' if above else 'of at least'} {minimum:g}, "
                                             f"got {text}")
        return value
    return parse


def to_json(data) -> str:
    "One JSON object as RFC 8259 allows it: never NaN or Infinity (callers refuse non-finite results before this)."
    return json.dumps(data, allow_nan=False)


def progress(message: str) -> None:
    "One line per stage on stderr, with the time so far: stdout stays clean for --json."
    print(f"[{time.perf_counter() - _START:5.1f}s] {message}", file=sys.stderr, flush=True)


def save_figure_atomic(fig, out: Path) -> None:
    "A matplotlib figure as a PNG at 100 dpi, written whole or not at all."
    out.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(out, lambda tmp: fig.savefig(tmp, dpi=100))


def existing_file(path: str) -> Path:
    p = Path(path)
    if not p.is_file():
        raise CommandError(f"{path}: no such file")
    return p


def load_model(checkpoint: str, want=None, config: str | None = None):
    progress(f"loading {checkpoint}")
    if config is not None and config not in PRESETS:
        config = VideoMAEConfig.from_json_file(existing_file(config))
    model = from_pretrained(checkpoint, config=config, dtype=torch.float32)  # CPU arithmetic, whatever it was saved in
    if want is not None and not isinstance(model, want):
        raise CommandError(f"{checkpoint}: a {type(model).__name__} checkpoint; this command needs a {want.__name__} one")
    return model
