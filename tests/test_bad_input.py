"""Odd and broken input, and runs broken at the worst moment (issue 16): each case as a user meets it.

Rotated phone videos against np.rot90 / np.fliplr of the stored frames and against Debian's ffmpeg, which turns
them itself; NaN weights and NaN losses; two real processes racing for one run folder; real `kill -9`s; a full
disk (RLIMIT_FSIZE, and a small tmpfs where this machine lets us mount one); flags, paths, pickles, truncated
files, stills and label files as a user mistypes them.
"""
from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from videomae_minimal.checkpoint_formats import CheckpointError, WriteError, read_weights, save_pretrained, write_atomic
from videomae_minimal.loop import checkpoints_in, load_training_state
from videomae_minimal.video import VideoReadError, read_video, video_info, write_synthetic_clip

ROOT = Path(__file__).resolve().parents[1]
FINETUNED = ROOT / "data" / "checkpoints" / "tiny-finetuned"
CLIP = ROOT / "data" / "videos" / "synthetic_motion"
TINY_RUN = ["--synthetic", "32", "--batch-size", "8", "--warmup-steps", "1", "--eval-synthetic", "0", "--threads", "1",
            "--quiet"]


def cli(*args, cwd=ROOT, env=None, preexec_fn=None, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "videomae_minimal", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=timeout, preexec_fn=preexec_fn,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", **(env or {})})


def strict_json(text: str):
    "json.loads that refuses NaN and Infinity, as RFC 8259 does."
    def refuse(constant):
        raise ValueError(f"not JSON (RFC 8259): {constant}")
    return json.loads(text, parse_constant=refuse)


def ffmpeg_or_skip() -> str:
    found = shutil.which("ffmpeg")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("ffmpeg is missing under CI=true: .ci/run installs Debian's ffmpeg with apt-get")
        pytest.skip("ffmpeg is not installed (Debian: apt-get install ffmpeg; .ci/run does it)")
    return found


# --- rotated videos -------------------------------------------------------------------------------------------------
def with_display_matrix(source: Path, target: Path, degrees: int, hflip: bool = False, vflip: bool = False) -> Path:
    "Copy `source`'s packets into `target` with a display matrix (PyAV writes the side data), nothing re-encoded."
    with av.open(str(source)) as src, av.open(str(target), "w") as dst:
        stream = dst.add_stream_from_template(src.streams.video[0])
        stream.set_display_rotation(degrees, hflip=hflip, vflip=vflip)
        for packet in src.demux(src.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                dst.mux(packet)
    return target


def ffmpeg_shows(ffmpeg: str, path: Path, index: int, shape) -> np.ndarray:
    "Frame `index` as Debian's ffmpeg shows it: its command line applies the display matrix itself (autorotate)."
    raw = subprocess.run([ffmpeg, "-loglevel", "error", "-i", str(path), "-vf", f"select=eq(n\\,{index})",
                          "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(shape)


# (degrees counter-clockwise, hflip, vflip) as written -> what a player shows, from the stored frame s
ORIENTATIONS = {
    (90, False, False): (90, False, lambda s: np.rot90(s, 1)),
    (180, False, False): (180, False, lambda s: np.rot90(s, 2)),
    (270, False, False): (270, False, lambda s: np.rot90(s, 3)),
    (0, True, False): (0, True, lambda s: np.fliplr(s)),
    (0, False, True): (180, True, lambda s: np.flipud(s)),  # a top-bottom mirror is a half turn, then left-right
    (90, True, False): (90, True, lambda s: np.fliplr(np.rot90(s, 1))),
    (270, True, False): (270, True, lambda s: np.fliplr(np.rot90(s, 3))),
}


@pytest.fixture(scope="module")
def upright(tmp_path_factory) -> Path:
    return write_synthetic_clip(tmp_path_factory.mktemp("rotation") / "upright.mp4", num_frames=12, size=(96, 160))


@pytest.mark.parametrize("written", list(ORIENTATIONS), ids=lambda w: f"rot{w[0]}{'-hflip' * w[1]}{'-vflip' * w[2]}")
def test_rotated_videos_read_as_a_player_shows_them(upright, tmp_path, written):
    rotation, mirrored, shown = ORIENTATIONS[written]
    phone = with_display_matrix(upright, tmp_path / "phone.mp4", *written)
    stored = read_video(upright, [0, 5, 11])  # (3, 96, 160, 3)
    frames = read_video(phone, [0, 5, 11])
    for got, frame in zip(frames, stored):
        np.testing.assert_array_equal(got, shown(frame))
    np.testing.assert_array_equal(read_video(phone, [0, 5, 11], autorotate=False), stored)
    info = video_info(phone)
    assert (info.rotation, info.mirrored) == (rotation, mirrored)
    assert (info.width, info.height) == (160, 96)
    assert (info.display_width, info.display_height) == (frames.shape[2], frames.shape[1])
    if shutil.which("ffmpeg"):  # an independent reader: ffmpeg's own autorotation shows the same pixels
        np.testing.assert_array_equal(frames[1], ffmpeg_shows(shutil.which("ffmpeg"), phone, 5, frames.shape[1:]))


def test_a_phone_video_tagged_by_ffmpeg_is_turned_and_the_cli_can_keep_it_raw(upright, tmp_path):
    ffmpeg = ffmpeg_or_skip()
    phone = tmp_path / "rotate90.mp4"  # what the command writes: a 90-degree display matrix, no re-encoding
    subprocess.run([ffmpeg, "-loglevel", "error", "-i", str(upright), "-c", "copy", "-metadata:s:v:0", "rotate=90",
                    str(phone)], check=True)
    frames, stored = read_video(phone, [3]), read_video(upright, [3])
    assert frames.shape == (1, 160, 96, 3)
    np.testing.assert_array_equal(frames, ffmpeg_shows(ffmpeg, phone, 3, frames.shape[1:])[None])
    assert np.array_equal(frames[0], np.rot90(stored[0], 1)) or np.array_equal(frames[0], np.rot90(stored[0], 3))
    turned = cli("frames", phone, "--out", tmp_path / "turned.png")
    raw = cli("frames", phone, "--out", tmp_path / "raw.png", "--no-autorotate")
    assert turned.returncode == 0 and raw.returncode == 0, turned.stderr + raw.stderr
    assert "96x160 (stored 160x96, turned" in turned.stdout
    assert "kept as stored: --no-autorotate" in raw.stdout


# --- NaN and Inf ----------------------------------------------------------------------------------------------------
def test_classify_json_is_always_json_and_nan_weights_are_an_error(tmp_path):
    good = cli("classify", CLIP / "000_move_right.mp4", "--checkpoint", FINETUNED, "--json", "--top-k", "3")
    assert good.returncode == 0, good.stderr
    assert len(strict_json(good.stdout)["predictions"]) == 3
    broken = tmp_path / "nan-weights"
    shutil.copytree(FINETUNED, broken)
    weights = read_weights(broken / "model.safetensors")
    weights = {k: torch.full_like(v, float("nan")) if k.endswith("classifier.weight") else v for k, v in weights.items()}
    from safetensors.torch import save_file
    save_file(weights, str(broken / "model.safetensors"), metadata={"format": "pt"})
    result = cli("classify", CLIP / "000_move_right.mp4", "--checkpoint", broken, "--json")
    assert result.returncode == 2
    assert result.stdout == ""  # nothing half-printed: no NaN on stdout
    assert f"{broken}: the model's outputs on" in result.stderr and "not finite numbers" in result.stderr


def test_a_loss_that_turns_nan_stops_the_run_and_saves_no_nan_model(tmp_path):
    out = tmp_path / "blowup"
    result = cli("pretrain", *TINY_RUN, "--steps", "20", "--lr", "1e6", "--checkpoint-every", "1", "--out", out)
    assert result.returncode == 2, result.stderr
    assert "the loss is NaN" in result.stderr or "the loss is +Inf" in result.stderr or "hold NaN or Inf" in result.stderr
    assert "step " in result.stderr and "--lr 1e+06" in result.stderr
    assert not (out / "model.safetensors").exists() and not (out / "training.json").exists()
    kept = checkpoints_in(out)
    for checkpoint in kept:  # whatever was kept is a model without NaN
        assert all(torch.isfinite(t).all() for t in read_weights(checkpoint / "model.safetensors").values())


# --- two runs in one folder -----------------------------------------------------------------------------------------
def test_a_second_run_into_the_same_folder_is_refused_naming_the_first(tmp_path):
    out = tmp_path / "shared"
    first = subprocess.Popen([sys.executable, "-m", "videomae_minimal", "pretrain", *TINY_RUN, "--steps", "100000",
                              "--checkpoint-every", "0", "--out", str(out)], cwd=ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        deadline = time.monotonic() + 120
        while not (out / "log.jsonl").exists():  # the log is written once the lock is held and the model built
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline, "the first run never started"
            time.sleep(0.2)
        began = time.monotonic()
        second = cli("pretrain", *TINY_RUN, "--steps", "4", "--out", out)
        assert time.monotonic() - began < 60  # refused at once, not after training
        assert second.returncode == 2
        assert f"{out}: another run (pid {first.pid}) is writing into this folder" in second.stderr
        assert first.poll() is None  # the first run goes on
    finally:
        first.kill()
        first.communicate()
    third = cli("pretrain", *TINY_RUN, "--steps", "2", "--out", out)  # the kernel dropped the killed run's lock
    assert "another run" not in third.stderr


# --- kill -9 at the worst moment ------------------------------------------------------------------------------------
KILLER = textwrap.dedent("""
    import os, signal, sys
    import videomae_minimal.loop as runs  # the one training loop writes the checkpoints and the final model
    when = sys.argv[1]
    if when == "final-save":  # after the last checkpoint, as the final model is about to be written
        real = runs.save_pretrained
        def save_pretrained(model, folder, *a, **k):
            if not os.path.basename(str(folder)).startswith("."):  # not a checkpoint's temporary folder
                os.kill(os.getpid(), signal.SIGKILL)
            return real(model, folder, *a, **k)
        runs.save_pretrained = save_pretrained
    elif when == "second-checkpoint":  # in the middle of writing the second checkpoint
        real_save, calls = runs.torch.save, []
        def save(obj, f, *a, **k):
            calls.append(1)
            if len(calls) == 2:
                os.kill(os.getpid(), signal.SIGKILL)
            return real_save(obj, f, *a, **k)
        runs.torch.save = save
    from videomae_minimal.cli import main
    sys.exit(main(sys.argv[2:]))
""")


def killed_run(tmp_path, when: str, *args) -> subprocess.CompletedProcess:
    script = tmp_path / "killer.py"
    script.write_text(KILLER)
    return subprocess.run([sys.executable, str(script), when, *map(str, args)], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300)


def test_a_kill_between_the_last_checkpoint_and_the_final_save_resumes_to_the_final_model(tmp_path):
    run = ["pretrain", *TINY_RUN, "--steps", "6", "--checkpoint-every", "3"]
    killed = killed_run(tmp_path, "final-save", *run, "--out", tmp_path / "killed")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert [c.name for c in checkpoints_in(tmp_path / "killed")] == ["checkpoint-000003", "checkpoint-000006"]
    assert not (tmp_path / "killed" / "model.safetensors").exists()
    resumed = cli(*run, "--out", tmp_path / "killed", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "run is complete" not in resumed.stderr
    whole = cli(*run, "--out", tmp_path / "whole")
    assert whole.returncode == 0, whole.stderr
    a, b = read_weights(tmp_path / "killed" / "model.safetensors"), read_weights(tmp_path / "whole" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert json.loads((tmp_path / "killed" / "training.json").read_text())["finished"] is True
    again = cli(*run, "--out", tmp_path / "killed", "--resume")
    assert again.returncode == 2 and "the run is complete" in again.stderr


def test_a_kill_mid_checkpoint_leaves_a_partial_that_the_next_start_removes(tmp_path):
    run = ["pretrain", *TINY_RUN, "--steps", "6", "--checkpoint-every", "2"]
    out = tmp_path / "run"
    killed = killed_run(tmp_path, "second-checkpoint", *run, "--out", out)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    partial = list(out.glob(".checkpoint-*.partial"))
    assert len(partial) == 1 and [c.name for c in checkpoints_in(out)] == ["checkpoint-000002"]
    resumed = cli(*run, "--out", out, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert f"removed {partial[0].name}, left half-written by an interrupted run" in resumed.stderr
    assert not list(out.glob(".*partial*")) and (out / "model.safetensors").is_file()


def test_an_unreadable_latest_checkpoint_falls_back_to_the_previous_one(tmp_path):
    run = ["pretrain", *TINY_RUN, "--steps", "6", "--checkpoint-every", "2"]
    out = tmp_path / "run"
    assert cli(*run, "--out", out, "--stop-at", "4").returncode == 0
    (out / "checkpoint-000004" / "training_state.pt").write_bytes(b"torn by a bad copy")
    resumed = cli(*run, "--out", out, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "checkpoint-000004 is unreadable" in resumed.stderr
    assert "resuming from the previous one, checkpoint-000002" in resumed.stderr
    whole = tmp_path / "whole"
    assert cli(*run, "--out", whole).returncode == 0
    a, b = read_weights(out / "model.safetensors"), read_weights(whole / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)


# --- a full disk ----------------------------------------------------------------------------------------------------
def _file_size_limit(limit: int):
    def apply():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # else the kernel kills the writer: we want the EFBIG error
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def test_a_checkpoint_that_does_not_fit_names_the_file_and_keeps_the_previous_one(tmp_path):
    run = ["pretrain", *TINY_RUN, "--steps", "6", "--checkpoint-every", "2"]
    out = tmp_path / "run"
    assert cli(*run, "--out", out, "--stop-at", "2").returncode == 0
    before = (out / "checkpoint-000002" / "training_state.pt").read_bytes()
    result = cli(*run, "--out", out, "--resume", preexec_fn=_file_size_limit(100_000))  # the weights are ~0.7 MB
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "unexpected pos" not in result.stderr
    assert f"file size limit (ulimit -f) exceeded while writing {out}/checkpoint-000004/" in result.stderr, result.stderr
    assert [c.name for c in checkpoints_in(out)] == ["checkpoint-000002"]
    assert (out / "checkpoint-000002" / "training_state.pt").read_bytes() == before
    assert load_training_state(out / "checkpoint-000002")["step"] == 2
    assert not list(out.glob(".*partial*"))


def test_no_space_left_on_a_small_tmpfs(tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip() or 'not root'}); the RLIMIT_FSIZE test covers it")
    try:
        (disk / "old.safetensors").write_bytes(b"the previous file")
        with pytest.raises(WriteError, match=f"no space left on device while writing {disk}/old.safetensors"):
            write_atomic(disk / "old.safetensors", lambda tmp: tmp.write_bytes(b"x" * 2_000_000))
        assert (disk / "old.safetensors").read_bytes() == b"the previous file"
        from videomae_minimal import from_pretrained
        model = from_pretrained(FINETUNED)
        with pytest.raises(WriteError, match="no space left on device while writing"):
            for i in range(4):  # ~0.7 MB each: the second does not fit
                save_pretrained(model, disk / f"copy{i}")
        assert not [p for p in disk.rglob(".*partial*")]
    finally:
        subprocess.run(["umount", str(disk)], check=False)


# --- flags, paths, pickles, files -----------------------------------------------------------------------------------
@pytest.mark.parametrize("args, flag", [
    (["pretrain", "--synthetic", "8", "--out", "{tmp}/r", "--log-every", "0"], "--log-every: must be at least 1, got 0"),
    (["pretrain", "--synthetic", "8", "--out", "{tmp}/r", "--checkpoint-every", "-1"], "--checkpoint-every: must be at least 0"),
    (["pretrain", "--synthetic", "8", "--out", "{tmp}/r", "--lr", "nan"], "--lr: must be a finite number above 0"),
    (["frames", "{clip}", "--out", "{tmp}/f.png", "--rate", "0"], "--rate: must be at least 1, got 0"),
    (["frames", "{clip}", "--out", "{tmp}/f.png", "--num-frames", "0"], "--num-frames: must be at least 1, got 0"),
    (["classify", "{clip}", "--checkpoint", "{finetuned}", "--rate", "0"], "--rate: must be at least 1, got 0"),
    (["finetune", "--synthetic", "8", "--init", "none", "--out", "{tmp}/r", "--batch-size", "x"], "--batch-size: expected an integer, got 'x'"),
])
def test_every_number_is_checked_at_parse_time_naming_its_flag(tmp_path, capsys, args, flag):
    from videomae_minimal.cli import main

    values = {"tmp": tmp_path, "clip": CLIP / "000_move_right.mp4", "finetuned": FINETUNED}
    with pytest.raises(SystemExit) as exited:  # argparse's own exit: before anything runs
        main([a.format(**values) for a in args])
    stderr = capsys.readouterr().err
    assert exited.value.code == 2
    assert f"argument {flag}" in stderr, stderr
    assert "seg_len" not in stderr and "clip_len" not in stderr and "Traceback" not in stderr
    assert not (tmp_path / "r").exists()


def test_a_mistyped_local_path_is_not_sent_to_the_hub(tmp_path):
    (tmp_path / "runs" / "finetuned").mkdir(parents=True)
    local = cli("classify", CLIP / "000_move_right.mp4", "--checkpoint", "runs/fine", cwd=tmp_path)
    assert local.returncode == 2
    assert "runs/fine: no such file or directory (runs/ holds finetuned; not tried as a Hub id" in local.stderr, local.stderr
    hub = cli("classify", CLIP / "000_move_right.mp4", "--checkpoint", "someone/not-cached", cwd=tmp_path,
              env={"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")})
    assert hub.returncode == 2
    assert "someone/not-cached: no such file or directory here; tried as a Hugging Face Hub id too" in hub.stderr, hub.stderr


class _Shell:
    def __reduce__(self):
        return (os.system, ("echo this ran",))


class _Print:
    def __reduce__(self):
        return (print, ("this ran",))


@pytest.mark.parametrize("payload, asked", [(_Shell(), "system"), (_Print(), "print")])
def test_a_malicious_pickle_is_refused_in_one_sentence(tmp_path, payload, asked):
    evil = tmp_path / "pytorch_model.bin"
    torch.save({"model": {"w": torch.zeros(1)}, "extra": payload}, evil)
    with pytest.raises(CheckpointError) as refused:
        read_weights(evil)
    message = str(refused.value)
    assert message.startswith(f"{evil} was not loaded: it asks to run code while loading (")
    assert asked in message and "Weights only load failed" not in message and len(message) < 300
    result = cli("classify", CLIP / "000_move_right.mp4", "--checkpoint", evil, "--config", "small")
    assert result.returncode == 2 and "this ran" not in result.stdout + result.stderr
    assert "was not loaded: it asks to run code" in result.stderr


def test_an_mp4_cut_before_its_index_says_so(tmp_path):
    whole = write_synthetic_clip(tmp_path / "whole.mp4", num_frames=60)  # the moov box (the index) is written last
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    for read in (lambda: video_info(cut), lambda: read_video(cut, [0])):
        with pytest.raises(VideoReadError, match=f"{cut}: the file is truncated or has no index"):
            read()


def test_a_still_is_classified_with_a_warning(tmp_path):
    still = write_synthetic_clip(tmp_path / "one_frame.mp4", num_frames=1, size=(96, 160))
    result = cli("classify", still, "--checkpoint", FINETUNED, "--json")
    assert result.returncode == 0, result.stderr
    assert f"warning: {still} has a single frame" in result.stderr
    assert strict_json(result.stdout)["predictions"]
    moving = cli("classify", CLIP / "000_move_right.mp4", "--checkpoint", FINETUNED)
    assert "single frame" not in moving.stderr


def test_blank_lines_in_a_labels_file_are_not_labels(tmp_path):
    names = [f"class {i}" for i in range(8)]
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(names) + "\n\n\n")
    result = cli("classify", CLIP / "000_move_right.mp4", "--checkpoint", FINETUNED, "--labels", labels, "--json")
    assert result.returncode == 0, result.stderr
    assert {p["label"] for p in strict_json(result.stdout)["predictions"]} <= set(names)


def test_train_itself_checks_its_intervals(tmp_path):
    from videomae_minimal.runs import TrainingArgs, train
    from videomae_minimal.training import TrainingError

    args = TrainingArgs("pretrain", "synthetic:8", steps=2, batch_size=4, eval_data="")
    for option, value in (("log_every", 0), ("checkpoint_every", -1), ("eval_every", 1.5)):
        with pytest.raises(TrainingError, match=f"{option} \\(--{option.replace('_', '-')}\\) must be an integer"):
            train(args, tmp_path / "run", progress=False, **{option: value})
    assert not (tmp_path / "run").exists()
