from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VIDEOS = ROOT / "videomae_minimal" / "data" / "videos"
REAL_CLIPS = [VIDEOS / "mmaction2_test_cleaning_pool.mp4", VIDEOS / "mmaction2_demo_arm_wrestling.mp4"]


def sequential_decode(path):
    "The plain reference: every frame from the first, in decode-counter order, as RGB uint8."
    import av
    import numpy as np

    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


@pytest.fixture(scope="session")
def real_frames():
    "Every frame of each real clip, decoded sequentially once per session."
    return {path: sequential_decode(path) for path in REAL_CLIPS}
