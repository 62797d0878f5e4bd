"""Training on the synthetic motion task (notebook 10): the data, runs, resume, torchrun, the bundled checkpoints and
their commands."""
import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from videomae_minimal import from_pretrained
from videomae_minimal.cli import main
from videomae_minimal.runs import TrainingArgs, VideoFolder, build_model, train, write_motion_dataset
from videomae_minimal.training import (MOTIONS, SyntheticMotion, TrainingError, evaluate, fit, masked_loss,
                                       pixel_values_from_clips, render_motion_clip)

ROOT = Path(__file__).resolve().parents[1]
PRETRAINED = ROOT / "data" / "checkpoints" / "tiny-pretrained"
FINETUNED = ROOT / "data" / "checkpoints" / "tiny-finetuned"
BUNDLED_CLIPS = ROOT / "data" / "videos" / "synthetic_motion"
NEW_SEED = 20251121  # never used to train or validate the bundled checkpoints (they used 0 and 1000000)


def cli(*args, timeout=300, **kwargs):
    return subprocess.run([sys.executable, "-m", "videomae_minimal", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, **kwargs)


@pytest.fixture
def one_thread():
    "Small matrices: one thread is as fast, and a shared machine cannot make the run stall."
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def weights(folder) -> dict[str, torch.Tensor]:
    return load_file(str(Path(folder) / "model.safetensors"))


# --- the data -------------------------------------------------------------------------------------------------------
def test_clips_are_a_function_of_seed_and_index():
    data = SyntheticMotion(16, seed=3)
    clips, labels = data.clips(range(16))
    assert clips.shape == (16, 16, 32, 32, 3) and clips.dtype == np.uint8
    assert labels.tolist() == [i % 8 for i in range(16)]
    again, _ = SyntheticMotion(16, seed=3).clips([9, 2])  # alone, in another order, in a new object
    assert np.array_equal(again, clips[[9, 2]])
    other, _ = SyntheticMotion(16, seed=4).clips(range(16))
    assert all(not np.array_equal(a, b) for a, b in zip(clips, other))
    assert all(len(np.unique(clip.reshape(16, -1), axis=0)) > 1 for clip in clips)  # every clip moves
    with pytest.raises(IndexError, match="clips 0..15"):
        data.clips([16])


def test_the_motions_go_where_their_names_say():
    """Measured on the pixels: the bar's centre moves right/left/down/up, its area grows/shrinks, and its orientation
    turns clockwise (on screen, rows pointing down) or counter-clockwise."""
    def bar(motion, seed):
        clip = render_motion_clip(motion, np.random.default_rng([11, seed])).astype(float)  # (T, S, S, 3)
        return clip.sum(-1) > clip[0, 0, 0].sum() + 150  # (T, S, S): the bright bar, not its dark background

    def centre(cover):
        rows, cols = np.nonzero(cover)
        return cols.mean(), rows.mean()

    def orientation(cover):  # angle of the long axis, in screen coordinates: growing = clockwise
        rows, cols = np.nonzero(cover)
        cov = np.cov(np.stack([cols, rows]))
        return 0.5 * np.arctan2(2 * cov[0, 1], cov[0, 0] - cov[1, 1])

    for seed in range(5):
        for name, (sx, sy) in {"move_right": (1, 0), "move_left": (-1, 0), "move_down": (0, 1), "move_up": (0, -1)}.items():
            cover = bar(MOTIONS.index(name), seed)
            (x0, y0), (x1, y1) = centre(cover[5]), centre(cover[10])  # middle frames: the bar is in view
            dx, dy = x1 - x0, y1 - y0
            assert np.sign(dx if sx else dy) == (sx or sy), (name, seed, dx, dy)
            assert (abs(dx) > 3 * abs(dy)) if sx else (abs(dy) > 3 * abs(dx)), (name, seed, dx, dy)
        for name, sign in {"rotate_clockwise": 1, "rotate_counterclockwise": -1}.items():
            cover = bar(MOTIONS.index(name), seed)
            turn = (orientation(cover[9]) - orientation(cover[6]) + np.pi / 2) % np.pi - np.pi / 2
            assert np.sign(turn) == sign and abs(turn) > np.radians(15), (name, seed, np.degrees(turn))
        grow, shrink = bar(MOTIONS.index("grow"), seed), bar(MOTIONS.index("shrink"), seed)
        assert grow[10].sum() > 1.5 * grow[5].sum() and shrink[5].sum() > 1.5 * shrink[10].sum(), seed


def test_written_files_decode_to_the_clips_made_in_memory(tmp_path):
    data = SyntheticMotion(8, seed=5)
    write_motion_dataset(tmp_path / "set", data)
    files = sorted(p.name for p in (tmp_path / "set").iterdir())
    assert files == sorted([f"{i:03d}_{m}.mp4" for i, m in enumerate(MOTIONS)] + ["labels.csv"])  # no temporary files
    with open(tmp_path / "set" / "labels.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["file", "label", "label_name"] and rows[3] == ["002_move_down.mp4", "2", "move_down"]
    folder = VideoFolder(tmp_path / "set")
    decoded, labels = folder.clips(range(8))
    made, expected = data.clips(range(8))
    difference = np.abs(decoded.astype(int) - made.astype(int))
    assert labels.tolist() == expected.tolist() and difference.max() <= 3 and difference.mean() < 1
    with pytest.raises(ValueError, match="already holds a dataset"):
        write_motion_dataset(tmp_path / "set", data)


def test_the_bundled_clips_are_what_make_synthetic_writes(tmp_path):
    result = cli("make-synthetic", tmp_path / "again", "--num", 8, "--seed", 7)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "again" / "labels.csv").read_text() == (BUNDLED_CLIPS / "labels.csv").read_text()
    bundled, fresh = VideoFolder(BUNDLED_CLIPS), VideoFolder(tmp_path / "again")
    assert np.abs(bundled.frames.astype(int) - fresh.frames.astype(int)).max() <= 1  # lossless: only colour rounding


def test_folder_errors_name_the_file_and_the_problem(tmp_path):
    with pytest.raises(ValueError, match="no such folder"):
        VideoFolder(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"labels\.csv: no such file; .* file,label,label_name"):
        VideoFolder(tmp_path / "empty")
    write_motion_dataset(tmp_path / "set", SyntheticMotion(2, seed=1))
    table = tmp_path / "set" / "labels.csv"
    good = table.read_text()
    for text, message in [("name,label\n", "the first line must be the header file,label,label_name"),
                          (good + "x.mp4,two,move_left\n", "line 4: label 'two' is not a non-negative integer"),
                          (good + "000_move_right.mp4,0,grow\n", "line 4: label 0 is named 'grow' here and 'move_right' before"),
                          (good + "gone.mp4,1,move_left\n", "gone.mp4: no such file")]:
        table.write_text(text)
        with pytest.raises(ValueError, match=message):
            VideoFolder(tmp_path / "set")
    table.write_text(good)
    with pytest.raises(ValueError, match="000_move_right.mp4: 16 frames, the model takes 32"):
        VideoFolder(tmp_path / "set", num_frames=32)


# --- runs -----------------------------------------------------------------------------------------------------------
def test_pretraining_lowers_the_masked_loss(tmp_path, one_thread):
    args = TrainingArgs("pretrain", "synthetic:64", steps=30, batch_size=8, lr=1.5e-3, warmup_steps=5, eval_data="")
    run = train(args, tmp_path, progress=False)
    held_out = SyntheticMotion(16, seed=99)
    untrained = build_model(args, dict(enumerate(MOTIONS)))  # the run's own starting point
    assert masked_loss(run["model"], held_out) < masked_loss(untrained, held_out) - 0.02
    assert from_pretrained(tmp_path).config.use_mean_pooling is False  # the published pre-training configs' choice


def test_finetuning_lowers_the_loss_and_learns(tmp_path, one_thread):
    args = TrainingArgs("finetune", "synthetic:64", steps=40, batch_size=16, lr=1e-3, warmup_steps=5,
                        init=str(PRETRAINED), eval_data="")
    run = train(args, tmp_path, progress=False)
    clips, labels = SyntheticMotion(64, seed=0).clips(range(64))  # the training clips
    pixel_values = pixel_values_from_clips(clips, run["model"].preprocessor_config)
    with torch.no_grad():
        before = build_model(args, dict(enumerate(MOTIONS))).eval()(pixel_values, labels=torch.from_numpy(labels)).loss
        after = run["model"](pixel_values, labels=torch.from_numpy(labels)).loss
    assert after < before - 0.1
    model = from_pretrained(tmp_path)
    assert type(model).__name__ == "VideoMAEForVideoClassification" and model.config.id2label[7] == "shrink"


def adamw_by_hand(model, data, args) -> None:
    """The expected training, written from the formulas rather than with torch.optim: the warm-up + cosine rate of
    notebook 10 (eta_k = eta (k+1)/w for k < w, then eta (1 + cos(pi (k-w)/(K-w))) / 2), and AdamW (Loshchilov &
    Hutter) with the original recipe's betas (0.9, 0.95 pre-training; 0.9, 0.999 fine-tuning), eps 1e-8, and decoupled
    weight decay on matrices only."""
    import math

    from videomae_minimal.training import batch_loss, batch_positions

    params = list(model.parameters())
    beta1, beta2 = (0.9, 0.95) if args.task == "pretrain" else (0.9, 0.999)
    first, second = [torch.zeros_like(p) for p in params], [torch.zeros_like(p) for p in params]
    model.train()
    for k in range(args.steps):
        w, total = args.warmup_steps, args.steps
        lr = args.lr * ((k + 1) / w if k < w else 0.5 * (1 + math.cos(math.pi * (k - w) / (total - w))))
        loss = batch_loss(model, data, batch_positions(k, args.batch_size), args.seed, args.mask_ratio, args.mask,
                          args.single_frame)
        grads = torch.autograd.grad(loss, params, allow_unused=True)
        with torch.no_grad():
            for p, g, m, v in zip(params, grads, first, second):
                g = torch.zeros_like(p) if g is None else g
                if p.ndim >= 2:
                    p.mul_(1 - lr * args.weight_decay)
                m.mul_(beta1).add_((1 - beta1) * g)
                v.mul_(beta2).add_((1 - beta2) * g * g)
                m_hat, v_hat = m / (1 - beta1 ** (k + 1)), v / (1 - beta2 ** (k + 1))
                p.sub_(lr * m_hat / (v_hat.sqrt() + 1e-8))


@pytest.mark.parametrize("task, extra", [("pretrain", {}), ("pretrain", {"mask": "random", "mask_ratio": 0.75}),
                                         ("finetune", {}), ("finetune", {"init": str(PRETRAINED)}),
                                         ("finetune", {"single_frame": True})])
def test_fit_ends_with_the_weights_train_ends_with(tmp_path, one_thread, task, extra):
    """Notebook 10's in-memory `fit` and appendix A3's `train` run one loop: same arguments, same weights, same losses;
    and both end where AdamW and the schedule, written out by hand from their formulas, end."""
    args = TrainingArgs(task, "synthetic:32", steps=5, batch_size=4, lr=2e-3, warmup_steps=2, eval_data="", **extra)
    run = train(args, tmp_path, log_every=1, progress=False)
    model = build_model(args, dict(enumerate(MOTIONS)))
    expected = build_model(args, dict(enumerate(MOTIONS)))
    losses = fit(model, SyntheticMotion(32, seed=args.seed), args.steps, args.batch_size, args.lr, args.warmup_steps,
                 args.weight_decay, args.seed, args.mask_ratio, args.mask, args.single_frame)
    ours, theirs = model.state_dict(), run["model"].state_dict()
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)
    adamw_by_hand(expected, SyntheticMotion(32, seed=args.seed), args)
    start = build_model(args, dict(enumerate(MOTIONS))).state_dict()
    for name, value in expected.state_dict().items():  # each weight moved as the formulas say (float32 rounding aside)
        moved = (value - start[name]).abs().max().item()
        assert torch.allclose(ours[name], value, rtol=1e-4, atol=1e-6), (name, moved, (ours[name] - value).abs().max())
    logged = [json.loads(line)["loss"] for line in (tmp_path / "log.jsonl").read_text().splitlines()[1:]]
    assert losses == logged and not model.training


# The bit-exact resume and torchrun tests of every data source are test_finetuning.py's test_one_loop_*.


def test_resume_refuses_nothing_to_do_and_mends_a_torn_log(tmp_path):
    args = TrainingArgs("pretrain", "synthetic:8", steps=4, batch_size=4, warmup_steps=1, eval_data="")
    train(args, tmp_path, stop_at=2, progress=False)
    with pytest.raises(TrainingError, match=r"stop_at 2 must come after the checkpoint's step 2"):
        train(args, tmp_path, resume=True, stop_at=2, progress=False)
    log = tmp_path / "log.jsonl"
    good = log.read_text()
    log.write_text(good + '{"step": 3, "lo')  # an interruption in the middle of a write
    train(args, tmp_path, resume=True, stop_at=3, progress=False)
    assert [json.loads(line)["step"] for line in log.read_text().splitlines()] == [0, 2, 3]
    log.write_text('{"step": 0}\nnot json\n' + good)
    with pytest.raises(TrainingError, match=r"log.jsonl:2: not a JSON record"):
        train(args, tmp_path, resume=True, progress=False)
    log.write_text(good)
    train(args, tmp_path, resume=True, progress=False)
    finished = (tmp_path / "training.json").read_text()
    with pytest.raises(TrainingError, match=r"the run is complete \(4 of 4 steps\)"):
        train(args, tmp_path, resume=True, progress=False)
    assert (tmp_path / "training.json").read_text() == finished  # the record of the finished run is kept
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    (fresh / "log.jsonl").write_text(good)  # a run that stopped before its first checkpoint
    train(args, fresh, progress=False)
    assert sum("start" in json.loads(line) for line in (fresh / "log.jsonl").read_text().splitlines()) == 1


# --- the bundled checkpoints ----------------------------------------------------------------------------------------
def test_bundled_classifier_recognises_new_clips():
    result = evaluate(from_pretrained(FINETUNED), SyntheticMotion(400, seed=NEW_SEED))
    assert result["n"] == 400 and result["accuracy"] >= 0.9, result


def test_transformers_loads_the_bundled_checkpoints():
    transformers = pytest.importorskip("transformers")
    transformers.logging.set_verbosity_error()
    clips, _ = SyntheticMotion(4, seed=NEW_SEED).clips(range(4))
    ours = from_pretrained(FINETUNED)
    pixel_values = pixel_values_from_clips(clips, ours.preprocessor_config)
    theirs = transformers.VideoMAEForVideoClassification.from_pretrained(FINETUNED).eval()
    assert theirs.config.id2label == dict(enumerate(MOTIONS))
    with torch.no_grad():
        torch.testing.assert_close(theirs(pixel_values).logits, ours(pixel_values).logits, rtol=1e-5, atol=1e-5)
    ours = from_pretrained(PRETRAINED)
    theirs = transformers.VideoMAEForPreTraining.from_pretrained(PRETRAINED).eval()
    mask = torch.zeros(4, ours.config.num_patches, dtype=torch.bool)
    mask[:, ::3] = True
    with torch.no_grad():
        a, b = theirs(pixel_values, bool_masked_pos=mask), ours(pixel_values, mask)
    torch.testing.assert_close(a.logits, b.logits, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(a.loss, b.loss, rtol=1e-5, atol=1e-6)
    processor = json.loads((FINETUNED / "preprocessor_config.json").read_text())
    assert processor["crop_size"] == {"height": 32, "width": 32} and processor["image_mean"] == [0.485, 0.456, 0.406]


def test_bundled_checkpoints_record_how_they_were_made():
    for folder, task in ((PRETRAINED, "pretrain"), (FINETUNED, "finetune")):
        record = json.loads((folder / "training.json").read_text())
        assert record["task"] == task and record["finished"] and record["command"].startswith(f"videomae-minimal {task} ")
        assert f"--seed {record['args']['seed']}" in record["command"]
    assert "tiny-pretrained" in json.loads((FINETUNED / "training.json").read_text())["args"]["init"]
    assert sum(p.stat().st_size for p in (*PRETRAINED.iterdir(), *FINETUNED.iterdir())) < 4_000_000


# --- the commands ---------------------------------------------------------------------------------------------------
def test_evaluate_json():
    result = cli("evaluate", "--checkpoint", FINETUNED, "--synthetic", 24, "--seed", NEW_SEED, "--json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert set(out) == {"accuracy", "n", "per_class"} and out["n"] == 24
    assert set(out["per_class"]) == set(MOTIONS)  # 3 clips of each
    assert out["accuracy"] == pytest.approx(np.mean(list(out["per_class"].values())))
    result = cli("evaluate", "--checkpoint", FINETUNED, "--data", BUNDLED_CLIPS, "--json")
    assert result.returncode == 0 and json.loads(result.stdout)["n"] == 8, result.stderr


@pytest.mark.parametrize("args, message", [
    (["make-synthetic", "{tmp}/x", "--num", "0"], "argument --num: must be at least 1, got 0"),
    (["pretrain", "--synthetic", "8", "--out", "{tmp}/r", "--mask-ratio", "1.5"], "--mask-ratio must be in (0, 1), got 1.5"),
    (["pretrain", "--data", "{tmp}/none", "--out", "{tmp}/r"], "--data {tmp}/none: no such folder"),
    (["pretrain", "--synthetic", "8", "--out", "{tmp}/r", "--steps", "0"], "argument --steps: must be at least 1, got 0"),
    (["pretrain", "--synthetic", "8", "--out", "{tmp}/r", "--resume"], "{tmp}/r: no checkpoint to resume from"),
    (["finetune", "--synthetic", "8", "--out", "{tmp}/r", "--init", "{tmp}/none"], "--init {tmp}/none: not a checkpoint folder"),
    (["finetune", "--synthetic", "8", "--out", "{tmp}/r", "--init", "none", "--num-labelled", "9"],
     "num_labelled (9) is more than the 8 clips"),
    (["evaluate", "--checkpoint", str(PRETRAINED), "--synthetic", "8"], "needs a VideoMAEForVideoClassification"),
    (["evaluate", "--checkpoint", "{tmp}/none", "--synthetic", "8"], "{tmp}/none: no such file or directory"),
])
def test_user_errors_exit_2_and_say_what_is_wrong(tmp_path, capsys, args, message):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    try:
        status = main(args)
    except SystemExit as e:  # argparse refuses a malformed number before anything runs
        status = e.code
    assert status == 2
    assert message.replace("{tmp}", str(tmp_path)) in capsys.readouterr().err


def test_evaluate_refuses_other_label_names(tmp_path, capsys):
    write_motion_dataset(tmp_path / "set", SyntheticMotion(2, seed=1))
    table = tmp_path / "set" / "labels.csv"
    table.write_text(table.read_text().replace(",move_left", ",left"))
    assert main(["evaluate", "--checkpoint", str(FINETUNED), "--data", str(tmp_path / "set")]) == 2
    assert "1: data 'left', checkpoint 'move_left'" in capsys.readouterr().err


def _tracked_files() -> list[str]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: cannot tell which files a clean checkout has")
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout
    return [name for name in listed.split("\0") if name and (ROOT / name).is_file()]


def test_demo_from_a_clean_checkout(tmp_path):
    "Only the files a clone has (committed or about to be), this interpreter, no network, no pre-built outputs."
    copy = tmp_path / "checkout"
    for name in _tracked_files():
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, copy / name)
    env = {**os.environ, "PYTHONPATH": str(copy), "HF_HUB_OFFLINE": "1"}
    where = subprocess.run([sys.executable, "-c", "import videomae_minimal; print(videomae_minimal.__file__)"],
                           capture_output=True, text=True, env=env, cwd=tmp_path)
    assert where.stdout.startswith(str(copy)), where  # the copy runs, not this working tree
    result = subprocess.run([sys.executable, "-m", "videomae_minimal", "demo"], capture_output=True, text=True,
                            env=env, cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert sum("top 3: " in line for line in lines) == 8
    assert any(line.endswith(" of 8 correct") for line in lines)
    assert "004_rotate_clockwise.mp4 from 10% of its tubelets" in result.stdout
    import matplotlib.image

    image = matplotlib.image.imread(tmp_path / "out" / "videomae_demo.png")
    assert image.ndim == 3 and image.std() > 0.05


def test_labels_per_class_and_the_linear_probe(tmp_path):
    from videomae_minimal.runs import balanced_subset

    data = SyntheticMotion(80, seed=3)
    few = balanced_subset(data, 3, seed=5)
    assert np.bincount(few.labels(np.arange(len(few))), minlength=8).tolist() == [3] * 8
    assert np.array_equal(few.indices, balanced_subset(data, 3, seed=5).indices)
    assert not np.array_equal(few.indices, balanced_subset(data, 3, seed=6).indices)
    with pytest.raises(TrainingError, match="labels_per_class \\(11\\) is more than the 10 clips of class 'move_right'"):
        balanced_subset(data, 11, seed=0)
    with pytest.raises(TrainingError, match="give num_labelled or labels_per_class, not both"):
        TrainingArgs("finetune", "synthetic:80", num_labelled=8, labels_per_class=1)
    args = TrainingArgs("finetune", "synthetic:80", init=str(PRETRAINED), labels_per_class=2, linear_probe=True,
                        steps=3, batch_size=8, eval_data="")
    trained = train(args, tmp_path / "probe", progress=False)["model"].state_dict()
    start = from_pretrained(PRETRAINED).state_dict()
    initial_head = build_model(args, dict(enumerate(MOTIONS))).state_dict()["classifier.weight"]
    encoder = [k for k in trained if k.startswith("videomae.")]
    assert encoder and all(torch.equal(trained[k], start[k]) for k in encoder)  # frozen
    assert not torch.equal(trained["classifier.weight"], initial_head)  # the head did train
    assert json.loads((tmp_path / "probe" / "training.json").read_text())["args"]["labels_per_class"] == 2
