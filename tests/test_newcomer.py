"""A newcomer's first hour (issue 26): defaults that give the right answer, a demo that leaves a clone clean, Ctrl-C
during training that stops cleanly and resumes, and a --help that says what the commands are for."""
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from videomae_minimal.cli import COMMAND_GROUPS, main
from videomae_minimal.sampling import kinetics_test_views
from videomae_minimal.sampling_rate import fitting_rate, frames_needed, trained_rate

ROOT = Path(__file__).resolve().parents[1]
FINETUNED = ROOT / "data" / "checkpoints" / "tiny-finetuned"
CLIPS = sorted((ROOT / "data" / "videos" / "synthetic_motion").glob("*.mp4"))


def run_main(capsys, *args):
    capsys.readouterr()
    try:
        status = main([str(a) for a in args])
    except SystemExit as e:  # argparse: --help and --version exit 0
        status = e.code
    out, err = capsys.readouterr()
    return status, out, err


def motion_of(clip: Path) -> str:
    "The class a bundled clip shows, from its file name alone (000_move_right.mp4 -> move_right)."
    return clip.stem.split("_", 1)[1]


# --- 1. the sampling rate the checkpoint was trained with --------------------------------------------------------------
def test_classify_with_default_flags_gets_the_eight_bundled_clips_right(capsys):
    "With the old default (--rate 4 on 16-frame clips trained at rate 1) 4 of the 8 came out right."
    assert len(CLIPS) == 8
    right = []
    for clip in CLIPS:
        status, out, err = run_main(capsys, "classify", clip, "--checkpoint", FINETUNED, "--json")
        assert status == 0, err
        right.append(json.loads(out)["predictions"][0]["label"] == motion_of(clip))
        assert "sampling rate 1 (as trained" in err and "notice:" not in err  # 16 frames fit rate 1: nothing to say
    assert sum(right) == 8, right


def test_a_clip_too_short_for_the_rate_says_so_and_is_read_denser(capsys, tmp_path):
    clip = CLIPS[0]
    status, out, err = run_main(capsys, "classify", clip, "--checkpoint", FINETUNED, "--rate", "4", "--json")
    assert status == 0, err
    assert f"notice: {clip}: 16 frames; rate 4 needs 61 (16 frames 4 apart): read at rate 1 instead" in err
    assert json.loads(out)["predictions"][0]["label"] == "move_right"  # read at rate 1, as trained: right again
    short = tmp_path / "short"
    assert main(["make-synthetic", str(short), "--num", "1", "--frames", "10"]) == 0
    status, out, err = run_main(capsys, "classify", short / "000_move_right.mp4", "--checkpoint", FINETUNED)
    assert status == 0, err
    assert "000_move_right.mp4: 10 frames, fewer than the 16 the model takes: read at rate 1" in err


def test_the_largest_rate_that_fits_is_one_the_test_views_read_without_repeating():
    "Checked against the test protocol's own sampler: at the rate chosen no frame repeats; one rate more, one does."
    for available, clip_len, rate in [(40, 16, 4), (61, 16, 4), (60, 16, 4), (16, 16, 4), (100, 8, 32), (9, 8, 2)]:
        fitted = fitting_rate(available, clip_len, rate)
        assert 1 <= fitted <= rate
        window = kinetics_test_views(available, clip_len, fitted, num_windows=1)[0]
        assert len(set(window.tolist())) == clip_len, (available, clip_len, rate, fitted)
        if fitted < rate:
            denser = kinetics_test_views(available, clip_len, fitted + 1, num_windows=1)[0]
            assert len(set(denser.tolist())) < clip_len
            assert available < frames_needed(clip_len, rate)
    assert fitting_rate(10, 16, 4) == 1  # not even consecutive frames fill it: rate 1, the last frame repeated


def test_the_trained_rate_comes_from_the_run_folder(tmp_path):
    assert trained_rate(FINETUNED).rate == 1  # the motion task: consecutive frames
    assert trained_rate("MCG-NJU/videomae-base").rate == 4  # a Hub id records nothing: the Kinetics recipe's
    run = tmp_path / "run"
    run.mkdir()
    (run / "training.json").write_text(json.dumps({"args": {"data": "clips/", "sampling": "random", "rate": 2}}))
    assert trained_rate(run) == (2, f"as trained, from {run / 'training.json'}", True)
    checkpoint = run / "checkpoint-000010"  # a run's checkpoint: its arguments are in the run's log
    checkpoint.mkdir()
    (run / "log.jsonl").write_text(json.dumps({"step": 0, "args": {"data": "x", "sampling": "random", "rate": 3}}) + "\n")
    assert trained_rate(checkpoint).rate == 3
    (run / "training.json").write_text("{not json")
    with pytest.raises(ValueError, match="training.json: cannot read the run's arguments"):
        trained_rate(run)


def test_evaluate_reads_video_files_at_the_rate_that_fits(capsys):
    "evaluate --data --rate 4 on the 16-frame clips: each is too short, read at rate 1, and all 8 are right."
    status, out, err = run_main(capsys, "evaluate", "--checkpoint", FINETUNED, "--data", CLIPS[0].parent, "--rate", "4",
                                "--json")
    assert status == 0, err
    result = json.loads(out)
    assert result["n"] == 8 and result["accuracy"] == 1.0, result
    assert err.count("rate 4 needs 61: read at rate 1") == 8


def test_finetune_on_video_files_takes_the_rate_of_its_init_and_evaluate_reads_it_back(capsys, tmp_path):
    "finetune --data records the rate it trained at, from --init's training.json; evaluate --data then reads at it."
    out = tmp_path / "run"
    status, _, err = run_main(capsys, "finetune", "--data", CLIPS[0].parent, "--init", FINETUNED.parent / "tiny-pretrained",
                              "--steps", "1", "--batch-size", "2", "--workers", "0", "--val-fraction", "0", "--quiet",
                              "--out", out)
    assert status == 0, err
    assert json.loads((out / "training.json").read_text())["args"]["rate"] == 1  # the motion task's: consecutive
    assert trained_rate(out) == (1, f"as trained, from {out / 'training.json'}", True)
    status, out_text, err = run_main(capsys, "evaluate", "--checkpoint", out, "--data", CLIPS[0].parent, "--json")
    assert status == 0, err
    assert f"sampling rate 1 (as trained, from {out / 'training.json'})" in err and json.loads(out_text)["n"] == 8


# --- 2. make demo in a clean clone -------------------------------------------------------------------------------------
def test_make_demo_leaves_a_clone_clean(tmp_path):
    "The Makefile's own demo target in a fresh clone of HEAD, with this interpreter: the picture lands in ignored out/."
    missing = [tool for tool in ("git", "make") if shutil.which(tool) is None]
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{', '.join(missing)} missing (Debian packages): CI must have them")
        pytest.skip(f"{', '.join(missing)} missing (Debian packages git, make)")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True, timeout=120)
    (clone / ".venv").mkdir()
    (clone / ".venv" / ".installed").touch()  # the install stamp, newer than pyproject.toml: make installs nothing
    env = {**os.environ, "PYTHONPATH": str(clone), "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(["make", "demo", f"PY={sys.executable}"], cwd=clone, env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    picture = clone / "out" / "videomae_demo.png"
    assert f"wrote {picture}" in result.stdout and picture.stat().st_size > 10_000
    assert "8 of 8 correct" in result.stdout
    assert "running the model on views" not in result.stderr  # the per-clip progress lines are gone
    status = subprocess.run(["git", "status", "--porcelain"], cwd=clone, capture_output=True, text=True, check=True)
    assert status.stdout == ""


# --- 3. Ctrl-C during training -----------------------------------------------------------------------------------------
def test_ctrl_c_during_pretrain_saves_a_checkpoint_and_resumes(tmp_path):
    out, steps = tmp_path / "run", 400
    command = [sys.executable, "-m", "videomae_minimal", "pretrain", "--synthetic", "64", "--steps", str(steps),
               "--batch-size", "8", "--checkpoint-every", "5", "--eval-synthetic", "0", "--threads", "1",
               "--out", str(out)]
    # A shell starts background jobs with SIGINT ignored, and children inherit that: restore the default, so that
    # Python installs its own handler, as it does in a terminal.
    run = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while not (out / "checkpoint-000005").is_dir():
        assert run.poll() is None and time.monotonic() < deadline, run.communicate()
        time.sleep(0.05)
    run.send_signal(signal.SIGINT)
    stdout, stderr = run.communicate(timeout=120)
    assert run.returncode == 130, stderr
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr
    said = [line for line in stderr.splitlines() if line.startswith("continue with: ")]
    assert len(said) == 1, stderr
    resume = said[0].removeprefix("continue with: ")
    assert resume == shlex.join([sys.executable, "-m", "videomae_minimal", *command[3:], "--resume"])
    stopped = max(int(p.name.split("-")[1]) for p in out.glob("checkpoint-*"))
    assert 5 <= stopped < steps and f"after step {stopped} of {steps}" in stderr
    assert not (out / "model.safetensors").exists()
    resumed = subprocess.run(shlex.split(resume), capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads((out / "training.json").read_text())
    assert summary["finished"] is True and summary["step"] == steps
    logged = [json.loads(line)["step"] for line in (out / "log.jsonl").read_text().splitlines()]
    assert logged[-1] == steps and logged == sorted(logged)


# --- 4, 5. progress of make-synthetic; --version and the grouped --help -------------------------------------------------
def test_make_synthetic_says_how_far_it_is(capsys, tmp_path, monkeypatch):
    from videomae_minimal.cli.train import ReportingClips

    monkeypatch.setattr(ReportingClips, "EVERY", 0.0)  # a line per clip, not one every 2 s
    status, out, err = run_main(capsys, "make-synthetic", tmp_path / "clips", "--num", "3")
    assert status == 0, err
    assert [line.split("] ")[1] for line in err.splitlines() if "] clip " in line] == \
        ["clip 1 of 3", "clip 2 of 3", "clip 3 of 3"]


def test_version_and_the_grouped_help(capsys):
    from importlib.metadata import version

    status, out, _ = run_main(capsys, "--version")
    assert status == 0 and out.strip() == f"videomae-minimal {version('videomae-minimal')}"
    status, out, _ = run_main(capsys, "--help")
    assert status == 0
    description = " ".join(out.split("\n\n")[1].split())
    assert "four groups: look at a video, check a checkpoint, train, and teach" in description
    lines = out.splitlines()
    for group, names in COMMAND_GROUPS.items():
        start = lines.index(f"{group}:")
        listed = [line.split()[0] for line in lines[start + 1:] if line.startswith("  ") and not line.startswith("   ")]
        assert listed[:len(names)] == list(names), (group, listed)
    assert sum(len(names) for names in COMMAND_GROUPS.values()) == 15  # embed joined the video commands
