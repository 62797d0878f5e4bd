"""The pictures the command line writes: a clip's frames as the model sees them, and what a pre-training checkpoint
rebuilds of a clip. Each is drawn from arrays its command computed, and written whole or not at all, as a PNG at 100
dpi. Hand-written (no notebook); the notebooks draw their own figures beside the code they explain."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .files import write_atomic
from .sampling import plot_frames

__all__ = ["save_figure_atomic", "save_frames_figure", "save_reconstruction_figure"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt

    return plt


def save_figure_atomic(fig, out: Path) -> None:
    "A matplotlib figure as a PNG at 100 dpi, written whole or not at all."
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(out, lambda tmp: fig.savefig(tmp, dpi=100))


def save_frames_figure(frames: np.ndarray, titles: list[str], suptitle: str, out: Path) -> None:
    "A strip of frames (T, H, W, 3) uint8, one title each (01's plot_frames), written to `out`."
    plt = _pyplot()
    fig = plot_frames(frames, titles=titles, suptitle=suptitle)
    save_figure_atomic(fig, out)
    plt.close(fig)


def save_reconstruction_figure(rows: list[tuple[str, np.ndarray]], frame_numbers, title: str, out: Path) -> None:
    """Rows of frames (name, (T, S, S, 3) uint8): the original, the input with its hidden tubelets grey, the rebuilt
    clip; up to 8 frames each, titled with `frame_numbers` (T,) of the video. Tiny frames show their pixels."""
    from matplotlib.patches import Patch

    plt = _pyplot()
    num_frames, size = rows[0][1].shape[:2]
    shown = np.linspace(0, num_frames - 1, min(8, num_frames)).astype(int)
    fig, axes = plt.subplots(len(rows), len(shown), figsize=(2 * len(shown), 2.4 * len(rows)), squeeze=False)
    for r, (name, frames) in enumerate(rows):
        for c, f in enumerate(shown):
            ax = axes[r, c]
            ax.imshow(frames[f], interpolation="nearest" if size < 96 else None)
            ax.set_xticks([]), ax.set_yticks([])  # axis off would hide the row's label too
            if r == 0:
                ax.set_title(f"frame {frame_numbers[f]}", fontsize=11)
        axes[r, 0].set_ylabel(name, fontsize=12)
    fig.suptitle(title, fontsize=13)
    fig.legend(handles=[Patch(facecolor=(0.5, 0.5, 0.5), edgecolor="black", label="grey: hidden (masked tubelets)")],
               loc="lower center", ncol=1, fontsize=11, frameon=False)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    save_figure_atomic(fig, out)
    plt.close(fig)
