"""The console script, run as a user would: in a subprocess, on the bundled clip."""
import shutil
import subprocess
import sys
from pathlib import Path

import matplotlib.image

from conftest import REAL_CLIPS
from videomae_minimal import read_video, synthetic_frame_index

SCRIPT = shutil.which("videomae-minimal", path=str(Path(sys.executable).parent))


def cli(*args, cwd=None):
    return subprocess.run([SCRIPT, *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=120)


def test_demo_writes_the_picture(tmp_path):
    result = cli("demo", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "pixel_values (16, 3, 224, 224) torch.float32" in result.stdout
    image = matplotlib.image.imread(tmp_path / "videomae_demo.png")
    assert image.ndim == 3 and image.shape[1] > 800 and image.std() > 0.05  # a real picture, not a blank page
    assert [p.name for p in tmp_path.iterdir()] == ["videomae_demo.png"]  # no temporary file left behind


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


def test_help_explains_each_command():
    for command in ("demo", "frames", "synthetic-clip"):
        result = cli(command, "--help")
        assert result.returncode == 0 and "usage: videomae-minimal " + command in result.stdout
    assert cli().returncode == 2
