"""The samplers against the published code they reimplement: the HF docs helper, the original VideoMAE loaders
(transcribed below from MCG-NJU/VideoMAE), and the frames of transformers' integration test (SPEC §1)."""
import numpy as np
import pytest

from videomae_minimal import kinetics_test_views, sample_frame_indices, ssv2_test_views


def hf_docs_sample_frame_indices(clip_len, frame_sample_rate, seg_len):
    "Verbatim from the transformers VideoMAE docs example; draws from numpy's global RandomState."
    converted_len = int(clip_len * frame_sample_rate)
    end_idx = np.random.randint(converted_len, seg_len)
    start_idx = end_idx - converted_len
    indices = np.linspace(start_idx, end_idx, num=clip_len)
    indices = np.clip(indices, start_idx, end_idx - 1).astype(np.int64)
    return indices


def original_short_video_indices(clip_len, frame_sample_rate, seg_len):
    "The original kinetics.py training loader's branch for seg_len <= clip_len * frame_sample_rate."
    index = np.linspace(0, seg_len, num=seg_len // frame_sample_rate)
    index = np.concatenate((index, np.ones(clip_len - seg_len // frame_sample_rate) * seg_len))
    return np.clip(index, 0, seg_len - 1).astype(np.int64)


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("clip_len,rate,seg_len", [(16, 4, 300), (16, 4, 65), (8, 8, 1000), (16, 2, 33)])
def test_replays_hf_docs_helper_exactly(seed, clip_len, rate, seg_len):
    np.random.seed(seed)
    expected = hf_docs_sample_frame_indices(clip_len, rate, seg_len)
    got = sample_frame_indices(clip_len, rate, seg_len, rng=np.random.RandomState(seed))
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, expected)


def test_integration_test_frames():
    # transformers' integration test uses frames [164 .. 227] of a 300-frame clip: the draw end = 228.
    seed = next(s for s in range(10_000) if np.random.RandomState(s).randint(64, 300) == 228)
    got = sample_frame_indices(16, 4, 300, rng=np.random.RandomState(seed))
    assert got.tolist() == [164, 168, 172, 176, 181, 185, 189, 193, 198, 202, 206, 210, 215, 219, 223, 227]


def test_bounds_span_and_uniform_ends():
    rng = np.random.default_rng(0)
    clips = np.stack([sample_frame_indices(16, 4, 300, rng) for _ in range(4000)])
    assert clips.min() >= 0 and clips.max() <= 299
    assert np.all(np.diff(clips, axis=1) >= 4) and np.all(np.diff(clips, axis=1) <= 5)  # step 64/15
    ends = clips[:, -1] + 1  # the drawn end (the last index is end - 1)
    assert set(np.unique(ends)) == set(range(64, 300))  # every end in [span, seg_len - 1] occurs
    assert np.all(clips[:, -1] - clips[:, 0] == 63)


def test_seeding():
    a = sample_frame_indices(16, 4, 300, rng=123)
    assert np.array_equal(a, sample_frame_indices(16, 4, 300, rng=123))
    assert np.array_equal(a, sample_frame_indices(16, 4, 300, rng=np.random.default_rng(123)))
    draws = {tuple(sample_frame_indices(16, 4, 300, rng=s)) for s in range(50)}
    assert len(draws) > 40
    g = np.random.default_rng(5)  # a shared generator advances between calls
    assert not np.array_equal(sample_frame_indices(16, 4, 300, g), sample_frame_indices(16, 4, 300, g))


@pytest.mark.parametrize("seg_len", [1, 3, 4, 5, 17, 40, 63, 64])
def test_short_video_pads_like_the_original(seg_len):
    got = sample_frame_indices(16, 4, seg_len, rng=0)
    np.testing.assert_array_equal(got, original_short_video_indices(16, 4, seg_len))
    assert len(got) == 16 and got.max() == seg_len - 1 and np.all(np.diff(got) >= 0)


@pytest.mark.parametrize("bad", [dict(clip_len=0), dict(frame_sample_rate=-1), dict(seg_len=0), dict(clip_len=2.5)])
def test_rejects_bad_arguments(bad):
    args = dict(clip_len=16, frame_sample_rate=4, seg_len=300) | bad
    with pytest.raises(ValueError, match=next(iter(bad))):
        sample_frame_indices(**args)
    with pytest.raises(TypeError, match="rng"):
        sample_frame_indices(16, 4, 300, rng="seed")


def original_kinetics_test_windows(num_frames, clip_len=16, frame_sample_rate=4, test_num_segment=5):
    "Transcribed from the original kinetics.py test path: loadvideo_decord, then the temporal_start slice."
    all_index = [x for x in range(0, num_frames, frame_sample_rate)]
    while len(all_index) < clip_len:
        all_index.append(all_index[-1])
    buffer = np.array(all_index)
    windows = []
    for chunk_nb in range(test_num_segment):
        temporal_step = max(1.0 * (buffer.shape[0] - clip_len) / (test_num_segment - 1), 0)
        temporal_start = int(chunk_nb * temporal_step)
        windows.append(buffer[temporal_start:temporal_start + clip_len])
    return np.stack(windows)


def original_ssv2_test_views(num_frames, num_segment=16, test_num_segment=2):
    "Transcribed from the original ssv2.py test path: sorted first+centre indices, then buffer[chunk_nb::2]."
    tick = num_frames / float(num_segment)
    all_index = list(np.array([int(tick / 2.0 + tick * x) for x in range(num_segment)] +
                              [int(tick * x) for x in range(num_segment)]))
    while len(all_index) < (num_segment * test_num_segment):
        all_index.append(all_index[-1])
    all_index = np.sort(np.array(all_index))
    return np.stack([all_index[chunk_nb::test_num_segment] for chunk_nb in range(test_num_segment)])


@pytest.mark.parametrize("num_frames", [10, 64, 65, 100, 250, 300, 301, 1000])
def test_kinetics_views_match_the_original(num_frames):
    np.testing.assert_array_equal(kinetics_test_views(num_frames), original_kinetics_test_windows(num_frames))


@pytest.mark.parametrize("num_frames", [16, 17, 50, 100, 300, 1001])
def test_ssv2_views_match_the_original(num_frames):
    np.testing.assert_array_equal(ssv2_test_views(num_frames), original_ssv2_test_views(num_frames))


def test_views_shapes_and_errors():
    assert kinetics_test_views(300, num_windows=1).shape == (1, 16)
    assert kinetics_test_views(300, clip_len=8, frame_sample_rate=8, num_windows=10).shape == (10, 8)
    with pytest.raises(ValueError):
        kinetics_test_views(0)
    with pytest.raises(ValueError):
        ssv2_test_views(100, num_segments=0)
