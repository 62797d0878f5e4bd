"""What every `videomae-minimal` command shares: the user-error exception, argparse's number types, the progress
line, JSON output, loading a checkpoint, and the options every checkpoint command takes. Hand-written (no notebook)."""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import torch

from ..checkpoint_formats import PRESETS, from_pretrained
from ..config import VideoMAEConfig

__all__ = ["CommandError", "integer", "number", "to_json", "progress", "existing_file", "load_model", "AUTOROTATE_HELP",
           "checkpoint_options", "video_command"]


class CommandError(Exception):
    "A problem with the user's input, reported as one line and exit status 2."


_START = time.perf_counter()


def _checked(convert, expected: str, problem):
    "An argparse type: `convert` the text, refused with `problem(value, text)`'s message when it gives one."
    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        message = problem(value, text)
        if message:
            raise argparse.ArgumentTypeError(message)
        return value
    return parse


def integer(minimum: int):
    "An argparse type: an integer of at least `minimum`. argparse's error names the flag: `argument --rate: ...`."
    return _checked(int, "an integer", lambda value, text: value < minimum and f"must be at least {minimum}, got {value}")


def number(minimum: float, above: bool = False):
    "An argparse type: a finite number, at least `minimum` (or above it)."
    def problem(value: float, text: str) -> str | None:
        if not math.isfinite(value) or value < minimum or (above and value == minimum):
            return f"must be a finite number {'above' if above else 'of at least'} {minimum:g}, got {text}"
        return None
    return _checked(float, "a number", problem)


def to_json(data) -> str:
    "One JSON object as RFC 8259 allows it: never NaN or Infinity (callers refuse non-finite results before this)."
    return json.dumps(data, allow_nan=False)


def progress(message: str) -> None:
    "One line per stage on stderr, with the time so far: stdout stays clean for --json."
    print(f"[{time.perf_counter() - _START:5.1f}s] {message}", file=sys.stderr, flush=True)


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


AUTOROTATE_HELP = ("keep the frames as stored: do not turn them as the file's display matrix says "
                   "(a phone video held upright is shown turned; by default the frames are read as a player shows them)")


def checkpoint_options(command: argparse.ArgumentParser) -> None:
    "What every command that loads a checkpoint takes."
    command.add_argument("--checkpoint", required=True,
                         help="a transformers directory, a weights file (.safetensors, .bin, original .pth) or a Hub id")
    command.add_argument("--config", help="for a checkpoint without config.json: a config.json file or a preset "
                                          "(small, base, large, huge; the original code's head counts)")
    command.add_argument("--rate", type=integer(1), help="frames between sampled frames (default: the rate the "
                         "checkpoint was trained with, from its training.json; 4 when it records none); a clip too "
                         "short for it is read at the largest rate that fits")
    command.add_argument("--no-autorotate", action="store_true", help=AUTOROTATE_HELP)


def video_command(add, name: str, **options) -> argparse.ArgumentParser:
    "A command that reads VIDEO with a checkpoint: its positional video and the checkpoint options."
    command = add(name, **options)
    command.add_argument("video", help="a video file (mp4, mkv, avi, webm, ...)")
    checkpoint_options(command)
    return command
