"""The console script, run as a user would: in a subprocess, on the bundled clip."""
import json
import os
import shutil
import subprocess
import sys
import types
from pathlib import Path

import matplotlib.image
import pytest
import torch

from conftest import REAL_CLIPS
from videomae_minimal import read_video, synthetic_frame_index

SCRIPT = shutil.which("videomae-minimal", path=str(Path(sys.executable).parent))


def cli(*args, cwd=None):
    return subprocess.run([SCRIPT, *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=120)


def test_demo_writes_the_picture(tmp_path):
    result = cli("demo", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "of 8 correct" in result.stdout and "rebuilt 004_rotate_clockwise.mp4" in result.stdout
    picture = tmp_path / "out" / "videomae_demo.png"  # under out/, which a clone's git ignores
    assert f"wrote {picture}" in result.stdout
    image = matplotlib.image.imread(picture)
    assert image.ndim == 3 and image.shape[1] > 800 and image.std() > 0.05  # a real picture, not a blank page
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    assert [p.name for p in picture.parent.iterdir()] == ["videomae_demo.png"]  # no temporary file left behind
    umask = os.umask(0)
    os.umask(umask)
    assert picture.stat().st_mode & 0o777 == 0o666 & ~umask  # an ordinary file, not 0600


def test_frames_draws_what_the_old_demo_drew(tmp_path):
    "The demo's former picture: 16 frames (rate 4, seed 0) of the bundled Kinetics clip, as the model sees them."
    result = cli("frames", REAL_CLIPS[0], "--out", tmp_path / "frames.png")
    assert result.returncode == 0, result.stderr
    assert "pixel_values (16, 3, 224, 224) torch.float32" in result.stdout and (tmp_path / "frames.png").is_file()


def test_frames_on_another_clip(tmp_path):
    out = tmp_path / "deep" / "frames.png"
    result = subprocess.run([sys.executable, "-m", "videomae_minimal", "frames", str(REAL_CLIPS[1]), "--out", str(out),
                             "--num-frames", "8", "--rate", "2", "--statistics", "half"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert out.is_file() and "pixel_values (8, 3, 224, 224)" in result.stdout


def test_synthetic_clip_command(tmp_path):
    result = cli("synthetic-clip", tmp_path / "c.avi", "--num-frames", "40", "--codec", "mpeg4", "--vfr")
    assert result.returncode == 0, result.stderr
    assert "40 frames" in result.stdout
    assert [synthetic_frame_index(f) for f in read_video(tmp_path / "c.avi", [39, 0])] == [39, 0]


def test_errors_exit_2_with_a_message(tmp_path):
    result = cli("frames", tmp_path / "nope.mp4", "--out", tmp_path / "x.png")
    assert result.returncode == 2 and "nope.mp4: no such file" in result.stderr
    (tmp_path / "text.mp4").write_text("not a video")
    result = cli("frames", tmp_path / "text.mp4", "--out", tmp_path / "x.png")
    assert result.returncode == 2 and "not a readable video" in result.stderr
    result = cli("synthetic-clip", tmp_path / "c.mp4", "--size", "big")
    assert result.returncode == 2 and "--size" in result.stderr
    assert not (tmp_path / "x.png").exists()


def test_course_copies_the_notebooks_and_refuses_a_folder_in_use(tmp_path):
    "In a clone, `course` copies the checkout's notebooks (tests/test_wheel.py: the wheel's own copy)."
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "mine.ipynb").write_text("{}")
    refused = cli("course", "--out", tmp_path / "taken")
    assert refused.returncode == 2 and "--out" in refused.stderr and "not an empty directory" in refused.stderr
    assert [p.name for p in (tmp_path / "taken").iterdir()] == ["mine.ipynb"]  # left as it was
    done = cli("course", "--out", tmp_path / "course")
    notebooks = Path(__file__).resolve().parents[1] / "notebooks"
    assert done.returncode == 0, done.stderr
    copied = sorted(p.relative_to(tmp_path / "course").as_posix() for p in (tmp_path / "course").rglob("*"))
    expected = sorted([p.name for p in notebooks.glob("*.ipynb")] + ["appendix"]
                      + [f"appendix/{p.name}" for p in (notebooks / "appendix").glob("*.ipynb")])
    assert copied == expected
    assert sorted(p.name for p in tmp_path.iterdir()) == ["course", "taken"]  # no partial folder left behind


def in_process(capsys, *args):
    """The command line run in this process (no interpreter start: a second saved per call), as (exit status,
    stdout, stderr). The subprocess tests above and below keep the installed script itself covered."""
    from videomae_minimal.cli import main

    capsys.readouterr()
    try:
        status = main([str(a) for a in args])
    except SystemExit as e:  # argparse: --help exits 0, a usage error 2
        status = e.code
    out, err = capsys.readouterr()
    return types.SimpleNamespace(returncode=status, stdout=out, stderr=err)


def test_help_explains_each_command(capsys):
    for command in ("demo", "frames", "synthetic-clip", "make-synthetic", "pretrain", "finetune", "evaluate", "course"):
        result = in_process(capsys, command, "--help")
        assert result.returncode == 0 and "usage: videomae-minimal " + command in result.stdout
    assert cli().returncode == 2


# --- checkpoint commands -------------------------------------------------------------------------------------------
LABELS = Path(__file__).resolve().parents[1] / "data" / "labels" / "kinetics400.txt"
VIDEO = REAL_CLIPS[0]


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    transformers = pytest.importorskip("transformers")
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    made = {}
    for kind, cls, extra in [("classification", "VideoMAEForVideoClassification", dict(num_labels=400)),
                             ("pretraining", "VideoMAEForPreTraining", dict(use_mean_pooling=False))]:
        config = transformers.VideoMAEConfig(image_size=64, patch_size=16, num_frames=4, hidden_size=32, num_hidden_layers=2,
                                             num_attention_heads=4, intermediate_size=64, decoder_hidden_size=16,
                                             decoder_num_hidden_layers=1, decoder_num_attention_heads=2,
                                             decoder_intermediate_size=32, **extra)
        model = getattr(transformers, cls)(config).eval()
        g = torch.Generator().manual_seed(0)
        with torch.no_grad():
            for p in model.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * (0.3 if p.ndim < 2 else 1 / p.shape[-1] ** 0.5))
        folder = tmp_path_factory.mktemp(kind)
        model.save_pretrained(folder)
        made[kind] = folder
    return made


def test_classify_json(checkpoints):
    result = cli("classify", VIDEO, "--checkpoint", checkpoints["classification"], "--top-k", "3", "--json", "--labels", LABELS)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["video"] == str(VIDEO) and out["checkpoint"] == str(checkpoints["classification"])
    predictions = out["predictions"]
    assert len(predictions) == 3 and set(predictions[0]) == {"id", "label", "score"}
    scores = [p["score"] for p in predictions]
    assert scores == sorted(scores, reverse=True) and 0 < sum(scores) <= 1
    names = LABELS.read_text().splitlines()
    assert all(p["label"] == names[p["id"]] for p in predictions)
    assert "loading" in result.stderr  # progress goes to stderr, never into the JSON


def test_classify_kinetics_views_average_the_single_views(checkpoints):
    "The 15-view score is the mean softmax of 15 clips: check it against running the package by hand."
    from videomae_minimal import from_pretrained, kinetics_test_views, preprocess_views, read_video, video_info

    result = cli("classify", VIDEO, "--checkpoint", checkpoints["classification"], "--views", "kinetics", "--json", "--top-k", "400")
    assert result.returncode == 0, result.stderr
    got = {p["id"]: p["score"] for p in json.loads(result.stdout)["predictions"]}
    model = from_pretrained(checkpoints["classification"])
    windows = kinetics_test_views(video_info(VIDEO).num_frames, 4, 4, num_windows=5)
    clips = torch.cat([preprocess_views(read_video(VIDEO, w), num_crops=3, size=64, crop_size=64) for w in windows])
    with torch.no_grad():
        expected = model(clips).logits.softmax(-1).mean(0)
    assert len(got) == 400
    assert max(abs(got[i] - expected[i].item()) for i in range(400)) < 1e-6


def test_compare_matches(checkpoints):
    for kind in ("classification", "pretraining"):
        result = cli("compare", "--checkpoint", checkpoints[kind], "--video", VIDEO, "--json")
        assert result.returncode == 0, result.stderr
        out = json.loads(result.stdout)
        assert out["match"] is True and out["max_abs_diff"]["logits"] <= 1e-4
        assert ("loss" in out["max_abs_diff"]) == (kind == "pretraining")
    result = cli("compare", "--checkpoint", checkpoints["classification"])
    assert result.returncode == 0 and "match transformers" in result.stdout


def test_compare_an_original_pth(checkpoints, tmp_path):
    "An original-layout file has no config: transformers gets the same tensors under its own names."
    from videomae_minimal import from_pretrained
    from videomae_minimal.checkpoint_formats import to_original_state_dict

    ours = from_pretrained(checkpoints["classification"])
    original = to_original_state_dict(ours.state_dict())
    torch.save({"model": original}, tmp_path / "finetuned.pth")
    # The preset cannot know this tiny model's heads; a config-less compare must refuse rather than guess.
    result = cli("compare", "--checkpoint", tmp_path / "finetuned.pth")
    assert result.returncode == 2 and "no preset has width 32" in result.stderr
    result = cli("compare", "--checkpoint", tmp_path / "finetuned.pth", "--config", checkpoints["classification"] / "config.json",
                 "--video", VIDEO, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["match"] is True
    result = cli("compare", "--checkpoint", tmp_path / "finetuned.pth", "--config", "base")
    assert result.returncode == 2 and "hidden_size: weights say 32, preset 'base' says 768" in result.stderr


def test_compare_mismatch_exits_1(checkpoints, monkeypatch, capsys):
    transformers = pytest.importorskip("transformers")
    from videomae_minimal import cli as cli_module

    original = transformers.VideoMAEForVideoClassification.forward

    def shifted(self, *args, **kwargs):  # a reference that disagrees by 0.01
        out = original(self, *args, **kwargs)
        out.logits = out.logits + 0.01
        return out

    monkeypatch.setattr(transformers.VideoMAEForVideoClassification, "forward", shifted)
    status = cli_module.main(["compare", "--checkpoint", str(checkpoints["classification"]), "--atol", "1e-3"])
    assert status == 1 and "MISMATCH" in capsys.readouterr().out


def test_compare_without_transformers(checkpoints):
    code = ("import sys; sys.modules['transformers'] = None\n"
            "from videomae_minimal.cli import main\n"
            f"sys.exit(main(['compare', '--checkpoint', {str(checkpoints['classification'])!r}]))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "pip install transformers" in result.stderr


def test_reconstruct(checkpoints, tmp_path):
    out = tmp_path / "rec.png"
    result = cli("reconstruct", VIDEO, "--checkpoint", checkpoints["pretraining"], "--out", out, "--mask-ratio", "0.75")
    assert result.returncode == 0, result.stderr
    assert out.is_file() and "loss" in result.stdout
    image = matplotlib.image.imread(out)
    assert image.ndim == 3 and image.std() > 0.05


def test_checkpoint_command_errors(checkpoints, tmp_path, capsys):
    result = in_process(capsys, "reconstruct", VIDEO, "--checkpoint", checkpoints["classification"], "--out", tmp_path / "x.png")
    assert result.returncode == 2 and "needs a VideoMAEForPreTraining" in result.stderr
    result = in_process(capsys, "classify", VIDEO, "--checkpoint", checkpoints["pretraining"])
    assert result.returncode == 2 and "needs a VideoMAEForVideoClassification" in result.stderr
    result = in_process(capsys, "classify", VIDEO, "--checkpoint", tmp_path / "missing")
    assert result.returncode == 2 and "missing: no such file or directory" in result.stderr
    result = in_process(capsys, "classify", tmp_path / "none.mp4", "--checkpoint", checkpoints["classification"])
    assert result.returncode == 2 and "none.mp4: no such file" in result.stderr
    (tmp_path / "three.txt").write_text("a\nb\nc\n")
    result = in_process(capsys, "classify", VIDEO, "--checkpoint", checkpoints["classification"], "--labels", tmp_path / "three.txt")
    assert result.returncode == 2 and "3 labels, but the checkpoint has 400 classes" in result.stderr
    for command in ("classify", "compare", "reconstruct"):
        result = in_process(capsys, command, "--help")
        assert result.returncode == 0 and "--checkpoint" in result.stdout


def test_compare_a_bf16_checkpoint(checkpoints, tmp_path):
    "transformers loads a checkpoint in the dtype it was saved in; compare must still run both in float32."
    transformers = pytest.importorskip("transformers")
    model = transformers.VideoMAEForVideoClassification.from_pretrained(checkpoints["classification"])
    model.to(torch.bfloat16).save_pretrained(tmp_path / "bf16")
    from safetensors.torch import load_file

    assert {t.dtype for t in load_file(str(tmp_path / "bf16" / "model.safetensors")).values()} == {torch.bfloat16}
    result = cli("compare", "--checkpoint", tmp_path / "bf16", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["match"] is True


def test_classify_rejects_bad_top_k(checkpoints):
    result = cli("classify", VIDEO, "--checkpoint", checkpoints["classification"], "--top-k", "0")
    assert result.returncode == 2 and "argument --top-k: must be at least 1, got 0" in result.stderr
