"""VideoMAE, built one step at a time. Each module is exported from the notebook of the same step:

    sampling            notebooks/01_frame_sampling.ipynb         which frames: the training clip, the test views
    processing          notebooks/02_processing.ipynb             frames -> normalised model input, and back
    patches             notebooks/03_tubelet_patches.ipynb        tubelets and their embedding
    positions           notebooks/04_sinusoidal_positions.ipynb   the fixed sin-cos position table
    masking             notebooks/05_tube_masking.ipynb           tube (and random) masks
    encoder             notebooks/06_sdpa_encoder.ipynb           attention, blocks, VideoMAEModel (transformers' names)
    pretraining         notebooks/07_decoder_loss.ipynb           decoder, targets, loss, VideoMAEForPreTraining
    classifier          notebooks/08_classifier.ipynb             VideoMAEForVideoClassification
    checkpoints         notebooks/09_real_checkpoints.ipynb       the published spelling and the original's -> ours, all-or-nothing loading
    training            notebooks/10_train_tiny.ipynb             the motion task, the training loop, evaluation

and from the appendices, what a real tool also needs:

    video               notebooks/appendix/A1_reading_real_videos.ipynb             read_video, video_info: exact, fast, named errors
    checkpoint_formats  notebooks/appendix/A2_checkpoint_formats_and_safety.ipynb    from_pretrained, save_pretrained: every layout, safely
    checkpoint_config   notebooks/appendix/A2_checkpoint_formats_and_safety.ipynb    configs for files without one
    checkpoint_files    notebooks/appendix/A2_checkpoint_formats_and_safety.ipynb    weight files read safely, written as transformers writes them
    loop                notebooks/appendix/A3_training_runs_that_survive.ipynb       run_training, the one loop: run folder, resume, torchrun, logs
    runs                notebooks/appendix/A3_training_runs_that_survive.ipynb       train: the motion task and labels.csv folders through that loop
    api                 notebooks/appendix/A4_using_it_like_transformers.ipynb       transformers' forward options, checkpointing, classify_video, embed_video
    finetuning          notebooks/appendix/A5_finetune_on_your_clips.ipynb          train_on_clips: folders of real video, the paper's recipe, workers

`config` (VideoMAEConfig), `modeling` (the models' base class: from_pretrained, device, dtype, ...), `checks` (how
notebooks print a difference), `bundled` (where the data that ships inside the package is: clips, tiny checkpoints,
labels), `plotting` (the command line's pictures), `cli/` and `course/` (student notebooks and the grader) are written
by hand.
"""
from .config import VideoMAEConfig
from .sampling import kinetics_test_views, plot_frames, sample_frame_indices, ssv2_test_views
from .video import VideoInfo, VideoReadError, read_video, synthetic_frame_index, video_info, write_synthetic_clip
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
from .outputs import ModelOutput
from .encoder import VideoMAEModel, VideoMAEModelOutput
from .pretraining import (VideoMAEForPreTraining, VideoMAEPreTrainingOutput, masked_pixels, reconstruct_pixels,
                          reconstruction_targets)
from .classifier import VideoClassificationOutput, VideoMAEForVideoClassification
from .checkpoints import CheckpointError
from .checkpoint_formats import from_pretrained, save_pretrained
from .api import classify_video, compare_with_transformers, embed_video, video_probabilities, video_views
from .training import (
    MOTIONS,
    SyntheticMotion,
    TrainingError,
    batch_loss,
    classifier_from_pretrained,
    evaluate,
    fit,
    masked_loss,
    render_motion_clip,
    tiny_config,
)
from .runs import TrainingArgs, VideoFolder, train, write_motion_dataset
from .version import __version__
from .finetuning import ClipSet, ClipTrainingArgs, evaluate_clips, read_clips, split_clips, train_on_clips

# The public surface: what a user of the package calls. The notebooks' teaching pieces (batch_loss, fit, masked_loss,
# render_motion_clip, SyntheticMotion, ...) stay importable from here for the course and for code written against
# earlier versions, but they are the training modules' own names: import them from there.
__all__ = [
    # the model and its configuration
    "VideoMAEConfig", "VideoMAEModel", "VideoMAEForPreTraining", "VideoMAEForVideoClassification",
    "ModelOutput", "VideoMAEModelOutput", "VideoMAEPreTrainingOutput", "VideoClassificationOutput",
    # checkpoints
    "from_pretrained", "save_pretrained", "CheckpointError",
    # reading and preparing video
    "read_video", "video_info", "VideoInfo", "VideoReadError", "sample_frame_indices", "kinetics_test_views",
    "ssv2_test_views", "preprocess", "preprocess_views", "frames_from_pixel_values", "IMAGENET_MEAN", "IMAGENET_STD",
    # the pieces of the model the course builds, and pictures of what it does
    "to_tubelets", "from_tubelets", "TubeletEmbedding", "sinusoid_table", "tube_mask", "random_mask",
    "reconstruction_targets", "reconstruct_pixels", "masked_pixels",
    # using a model
    "classify_video", "compare_with_transformers", "embed_video", "video_probabilities", "video_views",
    # training runs
    "train", "TrainingArgs", "train_on_clips", "ClipTrainingArgs", "evaluate", "evaluate_clips", "TrainingError",
    "classifier_from_pretrained",
    "__version__",
]
