"""The base class of the three models of 06-08, `VideoMAEPreTrainedModel`: what transformers' `PreTrainedModel` gives
a model beside its forward (from_pretrained, save_pretrained, device, dtype, base_model, get_input_embeddings,
num_parameters, gradient checkpointing), defined once here instead of attached to the classes from outside.
Hand-written (no notebook): the models' own code is what notebooks 06-08 write.

Loading and saving are two steps above the models (appendix A2), and this module is below them, so it cannot import
them: it keeps their places in `LOADERS`, which A2's module fills when it is imported (the package's `__init__`
imports it), and the class methods call what is there."""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn

__all__ = ["LOADERS", "VideoMAEPreTrainedModel"]

LOADERS: dict = {}  # "from_pretrained", "save_pretrained": registered by checkpoint_formats (appendix A2)


def _registered(name: str):
    if name not in LOADERS:
        raise RuntimeError(f"{name} is registered by videomae_minimal.checkpoint_formats (appendix A2): "
                           "import videomae_minimal, which imports it")
    return LOADERS[name]


class VideoMAEPreTrainedModel(nn.Module):
    "transformers' conveniences for VideoMAEModel, VideoMAEForPreTraining and VideoMAEForVideoClassification."

    main_input_name = "pixel_values"  # what transformers' Trainer and pipelines feed the model

    @classmethod
    def from_pretrained(cls, path_or_id, **options) -> nn.Module:
        """`cls.from_pretrained(...)`: the package's from_pretrained (A2) with every option it takes, building `cls`
        (a new head where the checkpoint has none, the tensors of another head left out, each said in a warning)."""
        return _registered("from_pretrained")(path_or_id, model_class=cls, **options)

    def save_pretrained(self, folder, preprocessor=None, **options) -> Path:
        """config.json, model.safetensors and preprocessor_config.json, as transformers writes them; transformers'
        options (safe_serialization, max_shard_size, state_dict, is_main_process) as there."""
        return _registered("save_pretrained")(self, folder, preprocessor, **options)

    @property
    def device(self) -> torch.device:
        "Where the parameters are."
        return next(self.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        "The parameters' dtype."
        return next(self.parameters()).dtype

    @property
    def base_model(self) -> nn.Module:
        "The encoder (transformers' `base_model`: a full model's `videomae`, or the encoder itself)."
        return getattr(self, "videomae", self)

    def get_input_embeddings(self) -> nn.Module:
        "transformers': the patch embedding."
        return self.base_model.embeddings.patch_embeddings

    def num_parameters(self, only_trainable: bool = False, exclude_embeddings: bool = False) -> int:
        """transformers' count: every parameter, or those that train; `exclude_embeddings` leaves out nn.Embedding
        weights, of which VideoMAE has none (its patch embedding is a Conv3d, counted as transformers counts it)."""
        embedded = {id(m.weight) for m in self.modules() if isinstance(m, nn.Embedding)} if exclude_embeddings else set()
        return sum(p.numel() for p in self.parameters() if (p.requires_grad or not only_trainable) and id(p) not in embedded)

    def gradient_checkpointing_enable(self, gradient_checkpointing_kwargs: dict | None = None, **options) -> None:
        """Recompute each block's activations in the backward pass: the same gradients, less memory, about a fifth
        more time. transformers' options (use_reentrant, every_n_layers, offload, ...) are accepted and not needed:
        every block is checkpointed, non-reentrant (appendix A4 makes a block whose flag is on do it)."""
        self._set_checkpointing(True)

    def gradient_checkpointing_disable(self, **options) -> None:
        self._set_checkpointing(False)

    activation_checkpointing_enable = gradient_checkpointing_enable  # transformers 5's new names for the same
    activation_checkpointing_disable = gradient_checkpointing_disable

    @property
    def is_gradient_checkpointing(self) -> bool:
        "Whether any block recomputes."
        return any(getattr(m, "gradient_checkpointing", False) for m in self.modules())

    is_activation_checkpointing = is_gradient_checkpointing

    def _set_checkpointing(self, on: bool) -> None:
        for module in self.modules():
            if hasattr(module, "gradient_checkpointing"):  # the blocks (06); A4 gives Block the flag
                module.gradient_checkpointing = on
