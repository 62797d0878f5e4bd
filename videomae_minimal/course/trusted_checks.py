"""The graded checks compared in the grader's own process: the kernel runs only a function of `dumps` that saves
the student's results, on inputs drawn here at every grading, as tensors; the expected answers (from transformers,
or computed here for exactly those inputs) never enter the kernel, and the results are read here as hostile."""
from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from . import dumps, later_checks
from .draws import fresh_seed
from .notebooks import GradingError

__all__ = ['TrustedCheck', 'TRUSTED_CHECKS', 'prepared', 'module_dirs', 'missing_hidden_module', 'read_results',
           'ResultsRefused', 'RESULTS_LIMIT']

# ---------------------------------------------------------------------------------------------- trusted checks
@dataclass
class TrustedCheck:
    """A check compared in the grader's process. `prepare()` runs here before the kernel starts and returns the
    inputs to give the student's code (drawn afresh at every grading) and the expected answers, which stay in this
    process; `given` are fixed inputs added to those. The kernel runs only `dump`, a function of `dumps`: its source
    text, then one call with the inputs' and results' paths and the student's definitions it names. `hide` are the
    modules kept out of the kernel, so that the student's code cannot return the reference's own answer;
    `compare(saved, expected)` says what differs (None when all matches)."""
    dump: Callable
    hide: tuple[str, ...]
    compare: Callable
    prepare: Callable | None = None
    given: dict = field(default_factory=dict)

    def source(self, results: Path, inputs: Path) -> str:
        """The check cell the kernel runs. Only paths (as string literals) and the dump's own parameter names (the
        student's definitions: a missing one is the notebook's NameError) are written into code, nothing drawn."""
        import inspect

        name = self.dump.__name__
        students = [p for p in inspect.signature(self.dump).parameters][2:]
        call = ", ".join([repr(str(inputs)), repr(str(results)), *students])
        return (f"# Self-check, run by the grader: your results are compared in its own process.\n"
                f"{inspect.getsource(self.dump)}\n\ntry:\n    {name}({call})\nfinally:\n    del {name}\n")

    def verdict(self, path: Path, expected) -> str | None:
        import io

        import torch

        try:
            data = read_results(path)
        except ResultsRefused as e:
            return str(e)
        try:
            saved = torch.load(io.BytesIO(data), weights_only=True)  # written by student code: tensors only, no pickle
        except Exception as e:
            return f"the grader could not read your results ({type(e).__name__}: {e})"
        if not isinstance(saved, dict):
            return "the grader could not read your results"
        try:
            return self.compare(saved, expected)
        except Exception as e:  # a result of the wrong kind (a string where a tensor belongs): the student's answer
            return f"your results could not be compared ({type(e).__name__}: {e})"


RESULTS_LIMIT = 64 * 2**20  # bytes: the largest results file a check reads (the biggest honest one is under 2 MiB)
RESULTS_SECONDS = 10.0  # the longest the grader spends reading one


class ResultsRefused(Exception):
    "A results file the grader will not read: its message says why, for the student's feedback."


def read_results(path: Path, limit: int = RESULTS_LIMIT, seconds: float = RESULTS_SECONDS) -> bytes:
    """The bytes of a results file the student's kernel wrote, read as hostile: never through a link, only a regular
    file (a FIFO would block the grader forever), without blocking, at most `limit` bytes and `seconds` of reading."""
    import os
    import stat
    import time

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        raise ResultsRefused("your code wrote no results (did the check cell run to the end?)") from None
    except OSError as e:  # ELOOP: a symbolic link
        raise ResultsRefused(f"your results file is not a plain file the grader reads ({e.strerror})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ResultsRefused("your results file is not a regular file (a FIFO, a device or a folder)")
        if info.st_size > limit:
            raise ResultsRefused(f"your results file holds {info.st_size} bytes, more than the {limit} a check reads")
        chunks, size, deadline = [], 0, time.monotonic() + seconds
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
            size += len(chunk)
            if size > limit or time.monotonic() > deadline:
                raise ResultsRefused(f"your results file grew past {limit} bytes or {seconds:g} s of reading")
        return b"".join(chunks)
    finally:
        os.close(fd)




def _differs(got, expected, what: str, tolerance: float) -> str | None:
    "What is wrong with one result tensor against the expected one, or None."
    import torch

    if not isinstance(got, torch.Tensor):
        return f"{what}: expected a tensor, got {type(got).__name__}"
    if tuple(got.shape) != tuple(expected.shape):
        return f"{what}: expected shape {tuple(expected.shape)}, got {tuple(got.shape)}"
    worst = (got.double() - expected.double()).abs().max().item() if got.numel() else 0.0
    if not worst <= tolerance:  # NaN fails too
        return f"{what} differs from transformers' by up to {worst:.3g} (tolerance {tolerance:g})"
    return None


# 01 · sample_frame_indices: the Hugging Face docs' sampler, run here with the same seeds.
SAMPLER_CASES = [(0, 16, 4, 300), (1, 8, 2, 50), (2, 16, 1, 17)] + [(seed, 16, 4, 120) for seed in range(50)]



def _docs_sampler(clip_len, frame_sample_rate, seg_len, seed):
    "The Hugging Face docs' sample_frame_indices, verbatim but for its generator: a seeded RandomState here."
    import numpy as np

    converted_len = int(clip_len * frame_sample_rate)
    end_idx = np.random.RandomState(seed).randint(converted_len, seg_len)
    start_idx = end_idx - converted_len
    indices = np.linspace(start_idx, end_idx, num=clip_len)
    return np.clip(indices, start_idx, end_idx - 1).astype(np.int64)


def _prepare_sampled_indices():
    import secrets

    import numpy as np
    import torch

    fresh = []  # 8 cases drawn as it grades: seeds, rates and lengths no answer file made before can hold
    for _ in range(8):
        rate = 1 + secrets.randbelow(4)
        fresh.append((secrets.randbelow(2**31), 16, rate, 16 * rate + 1 + secrets.randbelow(300)))
    expected = {f"{seed}:{n}:{rate}:{length}": _docs_sampler(n, rate, length, seed)
                for seed, n, rate, length in SAMPLER_CASES + fresh}
    end = int(np.random.default_rng(5).integers(64, 300))
    expected["generator"] = np.clip(np.linspace(end - 64, end, num=16), end - 64, end - 1).astype(np.int64)
    return {"cases": torch.tensor(SAMPLER_CASES + fresh)}, expected


def _compare_sampled_indices(saved: dict, expected: dict) -> str | None:
    if not bool(saved.get("is_int64_array", False)):
        return "return an int64 numpy array"
    first = saved["first"].tolist()
    if len(first) != 16:
        return f"a 16-frame clip needs 16 indices, got {len(first)}"
    if not (0 <= min(first) and max(first) <= 299):
        return f"your indices leave the 300-frame video: {[int(i) for i in first]}"
    for key, indices in expected.items():
        got = saved.get(key)
        got = [int(i) if float(i).is_integer() else i for i in got.tolist()] if got is not None else None
        if got != indices.tolist():
            if key == "generator":
                return "with a numpy Generator, draw the end with `draw` (its integers()), exactly once"
            seed, n, rate, length = key.split(":")
            return (f"seed {seed}, {n} frames every {rate} of a {length}-frame video: you give {got}, the docs' "
                    f"sampler gives {indices.tolist()}")
    return None


# 03 · to_tubelets and from_tubelets: what torch's Conv3d sees for each token, computed here.


def _prepare_tubelets():
    import torch

    generator = torch.Generator().manual_seed(fresh_seed())  # drawn as it grades: no answer file made before fits
    video = torch.randn(2, 4, 3, 32, 48, generator=generator)  # (B, T, C, H, W): a 2 x 2 x 3 grid of 2 x 16 x 16 tubes
    conv = torch.nn.Conv3d(3, 8, kernel_size=(2, 16, 16), stride=(2, 16, 16))
    with torch.no_grad():
        for p in conv.parameters():
            p.copy_(torch.randn(p.shape, generator=generator))
        per_token = conv(video.transpose(1, 2)).flatten(2).transpose(1, 2)  # (B, N, D): what Conv3d computes
    ordered = torch.arange(1 * 4 * 2 * 8 * 4, dtype=torch.float32).reshape(1, 4, 2, 8, 4)
    inputs = {"video": video, "ordered": ordered}
    return inputs, {"video": video, "conv": conv, "per_token": per_token, "ordered": ordered}


def _compare_tubelets(saved: dict, expected: dict) -> str | None:
    import torch

    tubes = saved.get("tubes")
    if not isinstance(tubes, torch.Tensor) or tuple(tubes.shape) != (2, 12, 512, 3):
        return f"expected (B, N, ts*p*p, C) = (2, 12, 512, 3), got {tuple(getattr(tubes, 'shape', ())) or type(tubes).__name__}"
    conv = expected["conv"]
    weight = conv.weight.detach().permute(0, 2, 3, 4, 1).reshape(8, -1)  # (D, ts*p*p*C) in (dt, dy, dx, c) order
    got = tubes.flatten(2).double() @ weight.T.double() + conv.bias.detach().double()  # (B, N, D)
    if not torch.allclose(got, expected["per_token"].double(), atol=1e-4):
        return ("your tubelets are not the pixels Conv3d sees for each token: check the token order (t, h, w) and "
                "the order inside a token (dt, dy, dx, then channel)")
    flat_form = "from_tubelets should also take the flattened (B, N, ts*p*p*C) form the decoder predicts"
    if isinstance(saved.get("back_flat_error"), str):
        return f"{flat_form}; it raised {saved['back_flat_error']}"
    for key, what in (("back", "from_tubelets(to_tubelets(video)) should give the video back, pixel for pixel"),
                      ("back_flat", f"{flat_form}: check which of its axes is the channel")):
        back = saved.get(key)
        if not isinstance(back, torch.Tensor) or not torch.equal(back, expected["video"]):
            return what
    ordered, video = saved.get("ordered"), expected["ordered"]
    if not isinstance(ordered, torch.Tensor) or tuple(ordered.shape) != (1, 4, 32, 2):
        return f"a (1, 4, 2, 8, 4) video in 2 x 4 x 4 tubelets: expected (1, 4, 32, 2), got {tuple(getattr(ordered, 'shape', ()))}"
    if not torch.equal(ordered[0, 3, 0], video[0, 2, :, 4, 0]):
        return "token 3 = (t 1, h 1, w 0) starts at frame 2, row 4"
    if not torch.equal(ordered[0, 1, 31], video[0, 1, :, 7, 3]):
        return "the last pixel of token 1 is (dt 1, dy 3, dx 3)"
    return None


# 05 · tube_mask: its invariants, checked here on the masks the student's function drew.


def _compare_masks(saved: dict, expected=None) -> str | None:
    import torch

    mask = saved.get("mask")
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
        return f"your tube mask should be a bool tensor, got {getattr(mask, 'dtype', type(mask).__name__)}"
    if tuple(mask.shape) != (3, 120):
        return f"expected (B, T' * H' * W') = (3, 120), got {tuple(mask.shape)}"
    steps = mask.reshape(3, 4, 30)  # (B, T', H'W'): token n = t * H'W' + position
    for t in range(1, 4):
        if (steps[:, t] != steps[:, 0]).any():
            return f"your tube mask differs between time steps 0 and {t}: a tube hides the same positions at every time step"
    if mask.sum(dim=1).tolist() != [4 * 22] * 3:
        return (f"each sample should hide int(0.75 * 30) = 22 positions x 4 time steps = 88 tokens, got "
                f"{mask.sum(dim=1).tolist()}")
    if torch.equal(mask[0], mask[1]):
        return "every sample should get its own random positions"
    again, none, base = saved.get("again"), saved.get("none"), saved.get("base")
    if not isinstance(again, torch.Tensor) or not torch.equal(mask, again):
        return "the same generator seed must give the same mask"
    if not isinstance(none, torch.Tensor) or tuple(none.shape) != (2, 1568) or none.any():
        return "a ratio of 0 hides nothing"
    if not isinstance(base, torch.Tensor) or tuple(base.shape) != (2, 1568) or base.sum(dim=1).tolist() != [8 * 176] * 2:
        return "the base grid at 0.9 should hide int(0.9 * 196) = 176 positions x 8 steps per sample"
    if (base.reshape(2, 8, 196) != base.reshape(2, 8, 196)[:, :1]).any():
        return "the base grid at 0.9: a tube hides the same positions at every time step"
    return _compare_randomness(saved.get("fresh"), saved.get("fresh_again"))


MASK_SEEDS = 64  # fresh generator seeds per grading, each giving one (2, 4, 4) tube mask at 0.5: 8 of 16 positions


def _prepare_masks():
    import torch

    return {"seeds": torch.tensor([fresh_seed() for _ in range(MASK_SEEDS)])}, None


def _compare_randomness(fresh, again) -> str | None:
    """Masks drawn from seeds the student could not know: a random mask differs from seed to seed (12,870 ways to
    hide 8 of 16 positions), repeats for a repeated seed, and hides every position about half the time."""
    import torch

    if not isinstance(fresh, torch.Tensor) or tuple(fresh.shape) != (MASK_SEEDS, 32) or fresh.dtype != torch.bool:
        return f"tube_mask(1, (2, 4, 4), 0.5) for {MASK_SEEDS} seeds should give {MASK_SEEDS} bool masks of 32 tokens"
    if not isinstance(again, torch.Tensor) or not torch.equal(again[0], fresh[0]):
        return "the same generator seed must give the same mask"
    distinct = len({tuple(row.tolist()) for row in fresh})
    if distinct < MASK_SEEDS // 2:
        return (f"your masks are not random: {MASK_SEEDS} generator seeds gave only {distinct} different masks "
                "(draw the positions with the generator you are given)")
    share = fresh[:, :16].float().mean(dim=0)  # (16,): how often each position is hidden
    if share.min() < 0.15 or share.max() > 0.85:
        return (f"your masks do not spread over the frame: over {MASK_SEEDS} seeds some positions are hidden "
                f"{share.min():.0%} of the time and others {share.max():.0%} (each should be about 50%)")
    return None


# 07 · reconstruction_targets: the same targets cut out of the pixels one tube at a time, here.
TARGETS_SIZES = dict(image_size=32, patch_size=16, num_frames=4, tubelet_size=2)  # a (2, 2, 2) grid of tokens



def _prepare_targets():
    import torch
    from ..processing import IMAGENET_MEAN, IMAGENET_STD

    pixel_values = torch.randn(2, 4, 3, 32, 32, generator=torch.Generator().manual_seed(fresh_seed()))  # normalised
    frames = pixel_values * torch.tensor(IMAGENET_STD).view(1, 1, 3, 1, 1) + torch.tensor(IMAGENET_MEAN).view(1, 1, 3, 1, 1)
    expected = {}
    for norm_pix in (False, True):
        tubes = []
        for n in range(8):
            t, h, w = n // 4, n // 2 % 2, n % 2  # token n sits at (t, h, w) of the (2, 2, 2) grid
            tube = frames[:, 2 * t:2 * t + 2, :, 16 * h:16 * h + 16, 16 * w:16 * w + 16]  # (B, dt, C, dy, dx)
            tube = tube.permute(0, 1, 3, 4, 2).reshape(2, 512, 3)  # (B, dt*dy*dx, C): channel fastest
            if norm_pix:
                tube = (tube - tube.mean(dim=1, keepdim=True)) / (tube.var(dim=1, unbiased=True, keepdim=True).sqrt() + 1e-6)
            tubes.append(tube.reshape(2, 1536))
        expected[f"norm_pix_{norm_pix}"] = torch.stack(tubes, dim=1)  # (B, N, ts*p*p*C)
    return {"pixel_values": pixel_values, "sizes": TARGETS_SIZES}, expected


def _compare_targets(saved: dict, expected: dict) -> str | None:
    import torch

    for norm_pix in (False, True):
        got, want = saved.get(f"norm_pix_{norm_pix}"), expected[f"norm_pix_{norm_pix}"]
        if not isinstance(got, torch.Tensor) or tuple(got.shape) != (2, 8, 1536):
            return f"expected (B, N, ts*p*p*C) = (2, 8, 1536), got {tuple(getattr(got, 'shape', ())) or type(got).__name__}"
        worst = (got.double() - want.double()).abs().amax(dim=-1)  # (B, N)
        if not bool((worst < 1e-4).all()):
            b, n = divmod(int(worst.argmax()), 8)
            return (f"norm_pix_loss={norm_pix}: sample {b}, token {n} differs from its pixels by up to "
                    f"{worst.max().item():.3g}; check the (dt, dy, dx, c) order and the per-channel statistics")
    flat = saved.get("flat")
    if not isinstance(flat, torch.Tensor) or not bool(torch.isfinite(flat).all()) or not flat.abs().max() < 1:
        return "a flat tubelet: the 1e-6 keeps it from dividing by zero"
    return None


# 02 · resized_shape: the instructor's check's sizes, hidden ones included, against transformers' resize arithmetic.
RESIZE_CASES = [(256, 340, 224), (360, 640, 224), (640, 360, 224), (224, 224, 224),
                (1080, 1920, 224), (480, 853, 160), (7, 3, 224), (301, 300, 112)]



def _prepare_resized_shapes():
    import secrets

    import numpy as np
    import torch
    from transformers.image_transforms import get_resize_output_image_size

    fresh = [(16 + secrets.randbelow(2000), 16 + secrets.randbelow(2000), 16 + secrets.randbelow(300)) for _ in range(6)]
    return {"cases": torch.tensor(RESIZE_CASES + fresh)}, {
        f"{h}x{w}@{size}": tuple(get_resize_output_image_size(np.zeros((h, w, 3), np.uint8), size=size,
                                                              default_to_square=False))
        for h, w, size in RESIZE_CASES + fresh}


def _compare_resized_shapes(saved: dict, expected: dict) -> str | None:
    for key, shape in {**expected, "explicit": (112, 160)}.items():
        got = saved.get(key)
        got = tuple(int(s) if float(s).is_integer() else float(s) for s in got.tolist()) if got is not None else None
        if got != tuple(shape):
            if key == "explicit":
                return f"an explicit (height, width) size (112, 160) is used as it is, you give {got}"
            frame, size = key.split("@")
            return (f"a {frame.replace('x', ' x ')} frame at size {size} should become {tuple(shape)} (short side "
                    f"{size}, the long side truncated), you give {got}")
    return None


# 04 · sinusoid_table.
SINUSOID_CASES = [(50, 16), (1568, 64), (1568, 768), (7, 5)]  # the instructor's check's cases, hidden ones included



def _prepare_sinusoid_tables():
    "Two sizes drawn as it grades (an even and an odd width), beside the fixed cases: expected = those sizes."
    import secrets

    import torch

    cases = [(2 + secrets.randbelow(400), 2 * (2 + secrets.randbelow(60))),
             (2 + secrets.randbelow(400), 3 + 2 * secrets.randbelow(30))]
    return {"cases": torch.tensor(SINUSOID_CASES + cases)}, cases


def _compare_sinusoid_tables(saved: dict, expected=None) -> str | None:
    import torch
    from transformers.models.videomae.modeling_videomae import get_sinusoid_encoding_table

    for n, dim in SINUSOID_CASES + [tuple(case) for case in expected or []]:
        table, expected = saved.get(f"{n}x{dim}"), get_sinusoid_encoding_table(n, dim)[0]
        if not isinstance(table, torch.Tensor) or table.dtype != torch.float32:
            return f"({n}, {dim}): return a float32 tensor, got {getattr(table, 'dtype', type(table).__name__)}"
        if tuple(table.shape) != tuple(expected.shape):
            return f"({n}, {dim}): expected shape {tuple(expected.shape)}, got {tuple(table.shape)}"
        if not torch.equal(table, expected):
            worst = (table - expected).abs().max().item()
            return (f"({n}, {dim}): your table differs from transformers' by up to {worst:.3g} (it must be bit-identical: "
                    "angles in float64 as pos / 10000 ** (2 * (i // 2) / dim), cast to float32 once at the end)")
    return None


# 06 · Attention, one check per implementation. The grader makes transformers' attention with random weights, gives
# the kernel its state dict (whose names are ours) and the tokens, and compares what the student's module returns.


def _prepare_attention():
    import copy

    import torch
    from transformers import VideoMAEConfig as HFConfig
    from transformers.models.videomae.modeling_videomae import VideoMAEAttention

    hf_config = HFConfig(hidden_size=32, num_attention_heads=4)
    hf_config._attn_implementation = "eager"
    generator = torch.Generator().manual_seed(fresh_seed())  # drawn as it grades: no answer file made before fits
    theirs = VideoMAEAttention(hf_config).eval()
    with torch.no_grad():
        for p in theirs.parameters():
            p.copy_(torch.randn(p.shape, generator=generator) * 0.3)  # non-zero biases: a misplaced bias shows
        tokens = torch.randn(2, 7, 32, generator=generator)  # (B, N, D)
        expected = theirs(tokens)
        expected = expected[0] if isinstance(expected, tuple) else expected
        _, probabilities = theirs.attention(tokens)  # (B, nh, N, N): transformers' eager attention weights
        unbiased = copy.deepcopy(theirs)
        unbiased.attention.query.bias.zero_()
        unbiased.attention.value.bias.zero_()
        no_bias = unbiased(tokens)
        no_bias = no_bias[0] if isinstance(no_bias, tuple) else no_bias
    inputs = {"state": {k: v.detach().clone() for k, v in theirs.state_dict().items()}, "tokens": tokens}
    return inputs, {"output": expected, "probabilities": probabilities, "no_bias_output": no_bias}


def _compare_attention(implementation: str):
    def compare(saved: dict, expected: dict) -> str | None:
        with_probabilities = "probabilities" in saved
        if implementation == "eager" and not with_probabilities:
            return "eager: return the probabilities (B, nh, N, N) = (2, 4, 7, 7), got None"
        if implementation == "sdpa" and with_probabilities:
            return "sdpa: SDPA never forms the probabilities: return None for them unless output_attentions=True"
        checks = [("output", "output", f"{implementation}: your attention")]
        if with_probabilities:
            checks.append(("probabilities", "probabilities", f"{implementation}: your attention probabilities"))
        if "asked_probabilities" not in saved:
            return f"{implementation}: with output_attentions=True return the probabilities (B, nh, N, N), got None"
        checks += [("asked_output", "output", f"{implementation}, output_attentions=True: your attention"),
                   ("asked_probabilities", "probabilities", f"{implementation}, output_attentions=True: your probabilities"),
                   ("no_bias_output", "no_bias_output", f"{implementation}, qkv_bias=False (no bias at all): your attention")]
        for key, reference, what in checks:
            wrong = _differs(saved.get(key), expected[reference], what, 1e-5)
            if wrong:
                hint = "; check the bias (none on k), the head split and the 1/sqrt(head_dim) scale"
                return wrong + (hint if "shape" not in wrong and "tensor" not in wrong else "")
        return None
    return compare


# 08 · the classifier's pooling: transformers' classifier with random weights; the kernel gets them in our names.
CLASSIFIER_SIZES = dict(image_size=32, patch_size=16, num_frames=4, hidden_size=32, num_hidden_layers=1,
                        num_attention_heads=4, intermediate_size=64, num_labels=5)



def _prepare_classifier():
    import torch
    import transformers
    from ..checkpoints import from_transformers_state_dict

    generator = torch.Generator().manual_seed(fresh_seed())  # drawn as it grades: no answer file made before fits
    pixel_values = torch.randn(2, 4, 3, 32, 32, generator=generator)  # (B, T, C, H, W)
    labels = torch.tensor([1, 4])
    inputs, expected = {"pixel_values": pixel_values, "labels": labels, "sizes": CLASSIFIER_SIZES}, {}
    for pooling in ("mean", "cls"):
        theirs = transformers.VideoMAEForVideoClassification(
            transformers.VideoMAEConfig(**CLASSIFIER_SIZES, use_mean_pooling=pooling == "mean")).eval()
        with torch.no_grad():
            for p in theirs.parameters():
                p.copy_(torch.randn(p.shape, generator=generator) * 0.3)  # not the near-zero initial weights
            out = theirs(pixel_values, labels=labels)
        inputs[f"state_{pooling}"] = {k: v.clone() for k, v in from_transformers_state_dict(theirs.state_dict()).items()}
        expected[f"logits_{pooling}"], expected[f"loss_{pooling}"] = out.logits, out.loss
    return inputs, expected


def _compare_classifier(saved: dict, expected: dict) -> str | None:
    for pooling, what in (("mean", "the mean over the tokens, then fc_norm"), ("cls", "token 0 (no fc_norm)")):
        wrong = _differs(saved.get(f"logits_{pooling}"), expected[f"logits_{pooling}"],
                         f"use_mean_pooling={pooling == 'mean'}: your logits", 1e-4)
        if wrong:
            return wrong + ("" if "shape" in wrong or "tensor" in wrong else f"; the pooled vector should be {what}")
        if f"loss_{pooling}" not in saved:
            return "with labels, return the loss (the cross-entropy of the logits), got None"
        wrong = _differs(saved[f"loss_{pooling}"], expected[f"loss_{pooling}"], "with labels, your loss", 1e-4)
        if wrong:
            return wrong + "; it should be the cross-entropy of the logits"
    return None


TRUSTED_CHECKS = {  # every graded check: a solution that patches torch or numpy in its kernel changes nothing here
    "sample_frame_indices": TrustedCheck(dumps.dump_sampled_indices, (), _compare_sampled_indices,
                                         _prepare_sampled_indices),
    "to_tubelets": TrustedCheck(dumps.dump_tubelets, (), _compare_tubelets, _prepare_tubelets),
    "tube_mask": TrustedCheck(dumps.dump_masks, (), _compare_masks, _prepare_masks),
    "reconstruction_targets": TrustedCheck(dumps.dump_targets, (), _compare_targets, _prepare_targets),
    "resized_shape": TrustedCheck(dumps.dump_resized_shapes, ("transformers",), _compare_resized_shapes,
                                  _prepare_resized_shapes),
    "sinusoid_table": TrustedCheck(dumps.dump_sinusoid_tables, ("transformers",), _compare_sinusoid_tables,
                                   _prepare_sinusoid_tables),
    "attention_eager": TrustedCheck(dumps.dump_attention, ("transformers",), _compare_attention("eager"),
                                    _prepare_attention, {"implementation": "eager"}),
    "attention_sdpa": TrustedCheck(dumps.dump_attention, ("transformers",), _compare_attention("sdpa"),
                                   _prepare_attention, {"implementation": "sdpa"}),
    "classifier_pooling": TrustedCheck(dumps.dump_classifier, ("transformers",), _compare_classifier,
                                       _prepare_classifier),
    "from_original_state_dict": TrustedCheck(dumps.dump_original_names, ("transformers",),
                                             later_checks.compare_original_names,
                                             later_checks.prepare_original_names),
    "parameter_groups": TrustedCheck(dumps.dump_parameter_groups, (), later_checks.compare_parameter_groups,
                                     later_checks.prepare_parameter_groups),
}


_PREPARING = threading.Lock()  # transformers' lazy imports are not thread-safe: two notebooks prepared at once (--jobs 2)
                               # were seen to fail with "module 'transformers' has no attribute ..."


def prepared(check: TrustedCheck):
    """A trusted check's inputs for the kernel (drawn now, with its fixed `given` ones) and expected answers, made
    in the grader's process (needs transformers here)."""
    if check.prepare is None:
        return dict(check.given), None
    try:
        with _PREPARING:
            inputs, expected = check.prepare()
        return {**inputs, **check.given}, expected
    except ImportError as e:
        raise GradingError(f"the grader compares this check with transformers in its own process: {e}") from e


def module_dirs(names) -> list[Path]:
    "Where these modules are installed (the folders to hide from a kernel)."
    import importlib.util

    found = []
    for name in names:
        spec = importlib.util.find_spec(name)
        found += [Path(p).resolve() for p in (spec.submodule_search_locations or []) if spec] if spec else []
    return found


def missing_hidden_module(reply: dict, hidden: set[str]) -> bool:
    "Whether an error is only the sandbox hiding a reference module (the course's own comparison cells)."
    return reply.get("ename") == "ModuleNotFoundError" and any(
        f"'{m}." in str(reply.get("evalue", "")) or f"'{m}'" in str(reply.get("evalue", "")) for m in hidden)
