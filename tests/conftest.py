from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VIDEOS = ROOT / "data" / "videos"
REAL_CLIPS = [VIDEOS / "mmaction2_test_cleaning_pool.mp4", VIDEOS / "mmaction2_demo_arm_wrestling.mp4"]
# The tiny VideoMAE sizes the parity tests build with transformers (test_api, test_model, test_checkpoints): two
# blocks, 4 frames of 32x32, heads of 12 and 8 dimensions, a decoder narrower than the encoder, 5 labels.
TINY = dict(image_size=32, patch_size=8, num_frames=4, tubelet_size=2, hidden_size=48, num_hidden_layers=2,
            num_attention_heads=4, intermediate_size=96, decoder_hidden_size=24, decoder_num_hidden_layers=2,
            decoder_num_attention_heads=3, decoder_intermediate_size=40, num_labels=5)


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
