"""VideoMAE, built one step at a time. Each module is exported from the notebook of the same step:

    sampling    notebooks/01_frame_sampling.ipynb   which frames, and reading them from a video file
    processing  notebooks/02_processing.ipynb       frames -> normalised model input, and back
"""
from .sampling import (
    VideoInfo,
    VideoReadError,
    kinetics_test_views,
    plot_frames,
    read_video,
    sample_frame_indices,
    ssv2_test_views,
    synthetic_frame_index,
    video_info,
    write_synthetic_clip,
)
from .processing import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    frames_from_pixel_values,
    preprocess,
    preprocess_views,
    resize_short_side,
    resized_shape,
)

__version__ = "0.1.0"
