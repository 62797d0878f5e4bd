"""VideoMAE, built one step at a time. Each module is exported from the notebook of the same step:

    sampling     notebooks/01_frame_sampling.ipynb         which frames, and reading them from a video file
    processing   notebooks/02_processing.ipynb             frames -> normalised model input, and back
    patches      notebooks/03_tubelet_patches.ipynb        tubelets and their embedding
    positions    notebooks/04_sinusoidal_positions.ipynb   the fixed sin-cos position table
    masking      notebooks/05_tube_masking.ipynb           tube (and random) masks
    encoder      notebooks/06_sdpa_encoder.ipynb           attention, blocks, VideoMAEModel
    pretraining  notebooks/07_decoder_loss.ipynb           decoder, targets, loss, VideoMAEForPreTraining
    classifier   notebooks/08_classifier.ipynb             VideoMAEForVideoClassification
    checkpoints  notebooks/09_real_checkpoints.ipynb       transformers' names -> ours, from_pretrained
    training     notebooks/10_train_tiny.ipynb             the motion task, pre-training / fine-tuning runs, save_pretrained

`config` (VideoMAEConfig), `cli` and `course` (student notebooks and the grader) are written by hand.
"""
from .config import VideoMAEConfig
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
from .patches import TubeletEmbedding, from_tubelets, to_tubelets
from .positions import sinusoid_table
from .masking import random_mask, tube_mask
from .encoder import VideoMAEModel, VideoMAEModelOutput
from .pretraining import (VideoMAEForPreTraining, VideoMAEPreTrainingOutput, masked_pixels, reconstruct_pixels,
                          reconstruction_targets)
from .classifier import VideoClassificationOutput, VideoMAEForVideoClassification
from .checkpoints import CheckpointError, from_pretrained
from .training import (
    MOTIONS,
    SyntheticMotion,
    TrainingArgs,
    TrainingError,
    VideoFolder,
    evaluate,
    masked_loss,
    render_motion_clip,
    save_pretrained,
    tiny_config,
    train,
    write_motion_dataset,
)

__version__ = "0.1.0"
