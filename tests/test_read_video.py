"""read_video against the plain reference (decode every frame from the first, count them) on real and synthetic
clips, its errors on bad files, and that it really starts at the key frame instead of frame 0."""
import av
import numpy as np
import pytest

import videomae_minimal.video as video_module
from conftest import REAL_CLIPS, ROOT, sequential_decode
from videomae_minimal import (VideoReadError, read_video, sample_frame_indices, synthetic_frame_index, video_info,
                              write_synthetic_clip)

CONTAINERS = {
    "h264.mp4": {},
    "h264.mkv": {},  # header frame count 0
    "vfr_h264.mp4": {"variable_frame_rate": True},
    "vfr_mpeg4.mp4": {"codec": "mpeg4", "variable_frame_rate": True},
    "part2.avi": {"codec": "mpeg4"},  # MPEG-4 Part 2 in AVI
    "part2_gop10.avi": {"codec": "mpeg4", "gop_size": 10},
    "h264_gop12.mp4": {"gop_size": 12},
    "vp9.webm": {"codec": "libvpx-vp9"},
}


@pytest.fixture(scope="module")
def synthetic_clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clips")
    return {name: write_synthetic_clip(folder / name, num_frames=150, **opts) for name, opts in CONTAINERS.items()}


@pytest.mark.parametrize("clip", REAL_CLIPS, ids=lambda p: p.stem)
def test_real_clips_frame_exact(clip, real_frames):
    everything = real_frames[clip]
    n = len(everything)
    assert video_info(clip).num_frames == n
    rng = np.random.default_rng(0)
    cases = [sample_frame_indices(16, 4, n, rng=s) for s in range(5)]
    cases += [np.arange(n - 16, n), [n - 1, 0, n - 1, 5, 5], rng.permutation(n)[:20], [n - 1], np.array([3, 3, 3])]
    cases += [np.clip(np.linspace(n - 65, n - 1, 16), n - 65, n - 2).astype(int)]  # the last clip
    for indices in cases:
        got = read_video(clip, indices)
        assert got.shape == (len(indices), *everything.shape[1:]) and got.dtype == np.uint8
        np.testing.assert_array_equal(got, everything[np.asarray(indices)])


@pytest.mark.parametrize("name", CONTAINERS)
def test_synthetic_containers(name, synthetic_clips):
    path = synthetic_clips[name]
    everything = sequential_decode(path)
    assert len(everything) == 150 == video_info(path).num_frames
    assert [synthetic_frame_index(f) for f in everything] == list(range(150))  # the writer wrote what it says
    for indices in ([149, 0, 75, 75], [120, 121, 149], [10], np.arange(0, 150, 7)[::-1]):
        got = read_video(path, indices)
        np.testing.assert_array_equal(got, everything[indices])


def test_header_counts_are_not_trusted(synthetic_clips):
    for name in ("h264.mkv", "vp9.webm"):
        with av.open(str(synthetic_clips[name])) as container:
            assert container.streams.video[0].frames == 0  # what the header says
        assert video_info(synthetic_clips[name]).num_frames == 150


def record_demux_passes(monkeypatch):
    "Wrap av.open inside the video module; record the pts of the packets each demux pass reads."
    passes = []
    real_open = av.open

    class Recording:
        def __init__(self, container):
            self._c = container

        def __getattr__(self, name):
            return getattr(self._c, name)

        def __enter__(self):
            self._c.__enter__()
            return self

        def __exit__(self, *exc):
            return self._c.__exit__(*exc)

        def demux(self, *args, **kwargs):
            passes.append([])
            for packet in self._c.demux(*args, **kwargs):
                if packet.size:
                    passes[-1].append(packet.pts)
                yield packet

    monkeypatch.setattr(video_module.av, "open", lambda *a, **k: Recording(real_open(*a, **k)))
    return passes


def display_positions(path):
    with av.open(str(path)) as container:
        return {pts: i for i, pts in enumerate(sorted(p.pts for p in container.demux(video=0) if p.size))}


def test_late_clip_seeks_to_the_key_frame(tmp_path, monkeypatch):
    clip = write_synthetic_clip(tmp_path / "long.mp4", num_frames=300, gop_size=30)
    expected = sequential_decode(clip)
    position = display_positions(clip)
    passes = record_demux_passes(monkeypatch)
    indices = np.clip(np.linspace(235, 299, 16), 235, 298).astype(int)
    got = read_video(clip, indices)
    np.testing.assert_array_equal(got, expected[indices])
    table_pass, decode_pass = passes  # one pass indexes the file, one decodes
    assert len(table_pass) == 300
    read = sorted(position[pts] for pts in decode_pass)
    assert read[0] == 210  # key frames every 30: the last one before frame 235
    assert len(decode_pass) <= 298 - 210 + 1 + 4  # and on to the last wanted frame (+ B-frame reordering)


def test_real_clip_late_seek(monkeypatch, real_frames):
    clip = REAL_CLIPS[0]  # key frames at 0 and 235
    position = display_positions(clip)
    passes = record_demux_passes(monkeypatch)
    got = read_video(clip, [240, 250, 299])
    np.testing.assert_array_equal(got, real_frames[clip][[240, 250, 299]])
    assert min(position[pts] for pts in passes[-1]) == 235


def test_early_clip_decodes_from_the_top(monkeypatch, real_frames):
    clip = REAL_CLIPS[0]
    position = display_positions(clip)
    passes = record_demux_passes(monkeypatch)
    np.testing.assert_array_equal(read_video(clip, [30, 20]), real_frames[clip][[30, 20]])
    assert min(position[pts] for pts in passes[-1]) == 0 and len(passes[-1]) < 40  # stops soon after frame 30


def test_bad_indices(tmp_path):
    clip = REAL_CLIPS[0]
    with pytest.raises(IndexError, match=r"\[300\].*300 frames"):
        read_video(clip, [0, 300])
    with pytest.raises(IndexError, match=r"\[-1\]"):
        read_video(clip, [-1, 3])
    for bad in ([], [[1, 2]], [1.5, 2.0]):
        with pytest.raises(ValueError, match="indices"):
            read_video(clip, bad)


def _bad_files(tmp_path):
    real = REAL_CLIPS[0].read_bytes()
    mkv = write_synthetic_clip(tmp_path / "whole.mkv", num_frames=200)
    files = {
        "missing": (tmp_path / "missing.mp4", "no such file"),
        "directory": (tmp_path, "directory"),
        "empty": (tmp_path / "empty.mp4", "empty"),
        "text": (ROOT / "README.md", "not a readable video"),
        "random bytes": (tmp_path / "noise.mp4", "not a readable video|no video stream|damaged"),
        "mp4 cut in half": (tmp_path / "cut.mp4", "not a readable video|truncated|damaged"),
        "mkv cut in half": (tmp_path / "cut.mkv", "truncated"),
    }
    files["empty"][0].touch()
    files["random bytes"][0].write_bytes(np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    files["mp4 cut in half"][0].write_bytes(real[: len(real) // 2])
    files["mkv cut in half"][0].write_bytes(mkv.read_bytes()[: mkv.stat().st_size // 2])
    return files


@pytest.mark.parametrize("kind", ["missing", "directory", "empty", "text", "random bytes", "mp4 cut in half", "mkv cut in half"])
def test_bad_files_raise_named_errors(kind, tmp_path):
    path, message = _bad_files(tmp_path)[kind]
    for call in (lambda: read_video(path, [0, 1]), lambda: video_info(path)):
        with pytest.raises(VideoReadError, match=message) as err:
            call()
        assert isinstance(err.value, ValueError)
        assert str(path) in str(err.value)


def test_audio_only_file(tmp_path):
    path = tmp_path / "tone.m4a"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=16000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.rate = 16000
        for i in range(10):
            frame.pts = i * 1024
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    with pytest.raises(VideoReadError, match="no video stream"):
        read_video(path, [0])


def test_synthetic_writer_is_atomic_and_validates(tmp_path):
    with pytest.raises(ValueError, match="size"):
        write_synthetic_clip(tmp_path / "x.mp4", size=(95, 160))
    with pytest.raises(ValueError, match="num_frames"):
        write_synthetic_clip(tmp_path / "x.mp4", num_frames=0)
    assert list(tmp_path.iterdir()) == []  # nothing half-written left behind


def test_bundled_synthetic_clip():
    clip = ROOT / "data" / "videos" / "synthetic_counter.mp4"
    frames = read_video(clip, [119, 0, 64])
    assert [synthetic_frame_index(f) for f in frames] == [119, 0, 64]


def _remux(src, dst, *, drop_first=0, shift_frames=0):
    "Copy packets without decoding: drop the first few (a cut inside a GOP) or shift timestamps (an edit list)."
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        ist = inp.streams.video[0]
        ost = out.add_stream_from_template(ist)
        step = int(round(1 / (ist.average_rate * ist.time_base)))
        for k, packet in enumerate(p for p in inp.demux(ist) if p.size):
            if k < drop_first:
                continue
            packet.pts -= shift_frames * step
            packet.dts -= shift_frames * step
            packet.stream = ost
            out.mux(packet)
    return dst


@pytest.fixture(scope="module")
def awkward_files(tmp_path_factory):
    "Files that break the 'one packet = one frame, pts in display order' assumptions."
    folder = tmp_path_factory.mktemp("awkward")
    source = write_synthetic_clip(folder / "source.mp4", num_frames=150, gop_size=30)
    files = {
        "mp4 with an edit list": _remux(source, folder / "edit_list.mp4", shift_frames=10),
        "mkv cut inside a GOP": _remux(source, folder / "mid_gop.mkv", drop_first=10),
        "mpeg-ts cut inside a GOP": _remux(source, folder / "mid_gop.ts", drop_first=10),
        "h264 with B-frames in avi": write_synthetic_clip(folder / "h264.avi", num_frames=150, gop_size=12),
    }
    with_audio = folder / "long_audio.mkv"  # 5 s of video, 7 s of audio: not truncated
    with av.open(str(with_audio), "w") as container:
        video = container.add_stream("libx264", rate=30)
        video.width, video.height, video.pix_fmt = 160, 96, "yuv420p"
        audio = container.add_stream("aac", rate=16000)
        for i in range(150):
            frame = av.VideoFrame.from_ndarray(video_module._synthetic_frame(i, 150, 96, 160), format="rgb24")
            container.mux(video.encode(frame))
        container.mux(video.encode())
        chunk = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        chunk.rate = 16000
        for i in range(7 * 16000 // 1024):
            chunk.pts = i * 1024
            container.mux(audio.encode(chunk))
        container.mux(audio.encode())
    files["mkv with audio longer than the video"] = with_audio
    return files


@pytest.mark.parametrize("kind", ["mp4 with an edit list", "mkv cut inside a GOP", "mpeg-ts cut inside a GOP",
                                  "h264 with B-frames in avi", "mkv with audio longer than the video"])
def test_awkward_files_match_the_sequential_decode(awkward_files, kind):
    path = awkward_files[kind]
    everything = sequential_decode(path)
    assert video_info(path).num_frames == len(everything)
    n = len(everything)
    for indices in ([n - 1, 0, n // 2, n // 2], [10], np.arange(0, n, 7)[::-1], [n - 5, n - 3, n - 1]):
        got = read_video(path, indices)
        np.testing.assert_array_equal(got, everything[np.asarray(indices)])


def test_writer_errors_name_the_problem(tmp_path):
    with pytest.raises(ValueError, match="cannot encode with codec 'no-such-codec'"):
        write_synthetic_clip(tmp_path / "y.mp4", codec="no-such-codec")
    with pytest.raises(ValueError, match="the folder .*nowhere does not exist"):
        write_synthetic_clip(tmp_path / "nowhere" / "y.mp4")
    with pytest.raises(ValueError, match="fps must be positive"):
        write_synthetic_clip(tmp_path / "y.mp4", fps=0)
    with pytest.raises(ValueError, match="no container format for the extension '.nosuchformat'"):
        write_synthetic_clip(tmp_path / "y.nosuchformat")
    assert list(tmp_path.iterdir()) == []
