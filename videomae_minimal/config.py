"""VideoMAEConfig: the sizes every step reads. Hand-written (no notebook): it is plain data under all the steps, with
the one table of what a config's names mean in torch (`ACTIVATIONS`, transformers' `hidden_act` names).

Field names and defaults are transformers' (`VideoMAEConfig`), so a transformers `config.json` reads directly.
"""
from __future__ import annotations

import functools
import json
import os
from dataclasses import InitVar, asdict, dataclass, field, fields

import torch
import torch.nn as nn

from .files import write_text_atomic

ATTN_IMPLEMENTATIONS = ("sdpa", "eager")
PROBLEM_TYPES = (None, "regression", "single_label_classification", "multi_label_classification")  # transformers' names
# config.json keys spelled differently elsewhere: transformers v5 writes `qv_bias` where v4 and the Hub say `qkv_bias`
_ALIASES = {"qv_bias": "qkv_bias", "_attn_implementation": "attn_implementation"}


class QuickGELU(nn.Module):
    "x * sigmoid(1.702 x): CLIP's approximation of GELU, transformers' `quick_gelu`."

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


# transformers' activation names a config may give (`hidden_act`), each as the module transformers builds for it;
# every published VideoMAE uses "gelu", the exact erf GELU. ("gelu_new": GPT-2's tanh approximation.)
ACTIVATIONS = {"gelu": nn.GELU, "gelu_python": nn.GELU, "gelu_new": functools.partial(nn.GELU, approximate="tanh"),
               "gelu_pytorch_tanh": functools.partial(nn.GELU, approximate="tanh"), "quick_gelu": QuickGELU,
               "relu": nn.ReLU, "silu": nn.SiLU, "swish": nn.SiLU}
HIDDEN_ACTS = tuple(ACTIVATIONS)


@dataclass
class VideoMAEConfig:
    image_size: int = 224
    patch_size: int = 16
    num_channels: int = 3
    num_frames: int = 16
    tubelet_size: int = 2
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    layer_norm_eps: float = 1e-12
    qkv_bias: bool = True
    use_mean_pooling: bool = True
    decoder_num_attention_heads: int = 6
    decoder_hidden_size: int = 384
    decoder_num_hidden_layers: int = 4
    decoder_intermediate_size: int = 1536
    norm_pix_loss: bool = True
    num_labels: int = 2
    id2label: dict[int, str] | None = None
    hidden_dropout_prob: float = 0.0  # after each sub-layer's output projection, in training mode (as transformers)
    attention_probs_dropout_prob: float = 0.0  # on the attention probabilities, in training mode
    drop_path_rate: float = 0.0  # stochastic depth of the last block (0 up to it), in training; transformers has none
    problem_type: str | None = None  # the classifier's loss; None: from num_labels and the labels' dtype
    attn_implementation: str = "sdpa"  # "sdpa" (fused kernel) or "eager" (the attention written out)
    architectures: list[str] = field(default_factory=list)  # from config.json: which model class was saved
    # transformers' defaults for a forward call's options (from_pretrained(..., output_hidden_states=True) sets them);
    # a call's own keyword wins (appendix A4 reads them).
    output_hidden_states: bool = False
    output_attentions: bool = False
    return_dict: bool = True
    qv_bias: InitVar[bool | None] = None  # transformers 5's name for qkv_bias (a bias on q and v), accepted as such

    def __post_init__(self, qv_bias: bool | None = None):
        if qv_bias is not None:
            self.qkv_bias = bool(qv_bias)
        for name in ("image_size", "patch_size", "num_channels", "num_frames", "tubelet_size", "hidden_size",
                     "num_hidden_layers", "num_attention_heads", "intermediate_size", "decoder_num_attention_heads",
                     "decoder_hidden_size", "decoder_num_hidden_layers", "decoder_intermediate_size"):
            value = getattr(self, name)
            if isinstance(value, (list, tuple)) and name in ("image_size", "patch_size"):
                if len(set(value)) != 1:  # transformers accepts (height, width); every published model is square
                    raise ValueError(f"VideoMAEConfig.{name} {list(value)}: a non-square {name} is not supported here "
                                     "(every published VideoMAE is square; process frames to a square crop)")
                value = value[0]  # a square given as [224, 224]
                setattr(self, name, value)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"VideoMAEConfig.{name} must be a positive integer, got {value!r}")
        if self.decoder_num_hidden_layers < 0 or self.num_labels < 0:
            raise ValueError("decoder_num_hidden_layers and num_labels must not be negative")
        for size, heads in (("hidden_size", "num_attention_heads"), ("decoder_hidden_size", "decoder_num_attention_heads")):
            if getattr(self, size) % getattr(self, heads):
                raise ValueError(f"VideoMAEConfig.{size} ({getattr(self, size)}) must be divisible by "
                                 f"{heads} ({getattr(self, heads)})")
        if self.image_size % self.patch_size:
            raise ValueError(f"VideoMAEConfig.image_size ({self.image_size}) must be divisible by patch_size ({self.patch_size})")
        if self.num_frames % self.tubelet_size:
            raise ValueError(f"VideoMAEConfig.num_frames ({self.num_frames}) must be divisible by tubelet_size ({self.tubelet_size})")
        if self.hidden_act not in HIDDEN_ACTS:
            raise ValueError(f"VideoMAEConfig.hidden_act must be one of {HIDDEN_ACTS}, got {self.hidden_act!r}")
        if self.attn_implementation not in ATTN_IMPLEMENTATIONS:
            raise ValueError(f"attn_implementation must be one of {ATTN_IMPLEMENTATIONS}, got {self.attn_implementation!r}")
        for name in ("hidden_dropout_prob", "attention_probs_dropout_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"VideoMAEConfig.{name} must be in [0, 1], got {getattr(self, name)!r}")
        if not 0.0 <= self.drop_path_rate < 1.0:
            raise ValueError(f"VideoMAEConfig.drop_path_rate must be in [0, 1), got {self.drop_path_rate!r}")
        if self.problem_type not in PROBLEM_TYPES:
            raise ValueError(f"VideoMAEConfig.problem_type must be one of {PROBLEM_TYPES}, got {self.problem_type!r}")
        if not self.layer_norm_eps > 0:
            raise ValueError(f"VideoMAEConfig.layer_norm_eps must be positive, got {self.layer_norm_eps!r}")
        if self.id2label:
            self.id2label = {int(k): str(v) for k, v in self.id2label.items()}  # JSON keys are strings
            if sorted(self.id2label) != list(range(len(self.id2label))):
                raise ValueError("VideoMAEConfig.id2label must have the keys 0..num_labels-1")
            self.num_labels = len(self.id2label)
        else:
            self.id2label = {i: f"LABEL_{i}" for i in range(self.num_labels)}

    # Sizes that follow from the fields
    @property
    def grid(self) -> tuple[int, int, int]:
        "(T', H', W'): tubelets along time, height and width."
        side = self.image_size // self.patch_size
        return self.num_frames // self.tubelet_size, side, side

    @property
    def num_patches(self) -> int:
        t, h, w = self.grid
        return t * h * w

    @property
    def patch_dim(self) -> int:
        "Pixels in one tubelet: tubelet_size * patch_size^2 * num_channels (1536 for the base model)."
        return self.tubelet_size * self.patch_size ** 2 * self.num_channels

    @property
    def label2id(self) -> dict[str, int]:
        return {v: k for k, v in self.id2label.items()}

    @classmethod
    def from_dict(cls, values: dict, **overrides) -> "VideoMAEConfig":
        "From a transformers-style dict; keys that are not VideoMAE sizes (torch_dtype, model_type, ...) are ignored."
        known = {f.name for f in fields(cls)}
        if "num_labels" in overrides and "id2label" not in overrides and \
                overrides["num_labels"] != len(values.get("id2label") or {}):
            values = {k: v for k, v in values.items() if k not in ("id2label", "label2id")}  # a new head, new names
        kwargs = {}
        for key, value in {**values, **overrides}.items():
            key = _ALIASES.get(key, key)
            if key in known:
                kwargs[key] = value
        if "id2label" in kwargs and "num_labels" in kwargs and kwargs["id2label"]:
            kwargs.pop("num_labels")  # id2label decides
        return cls(**kwargs)

    @classmethod
    def from_json_file(cls, path, **overrides) -> "VideoMAEConfig":
        path = os.fspath(path)
        try:
            with open(path, encoding="utf-8") as f:
                values = json.load(f)
        except FileNotFoundError:
            raise FileNotFoundError(f"{path}: no such config file") from None
        except (OSError, ValueError) as e:
            raise ValueError(f"{path}: not a readable JSON config ({e})") from e
        if not isinstance(values, dict):
            raise ValueError(f"{path}: a config must be a JSON object, got {type(values).__name__}")
        if values.get("model_type", "videomae") != "videomae":
            raise ValueError(f"{path}: model_type is {values['model_type']!r}, not 'videomae'")
        try:
            return cls.from_dict(values, **overrides)
        except (TypeError, ValueError) as e:
            raise ValueError(f"{path}: {e}") from e

    def to_dict(self) -> dict:
        "transformers' spelling, for a config.json transformers can read."
        out = asdict(self)
        out["id2label"] = {str(k): v for k, v in self.id2label.items()}
        out["label2id"] = self.label2id
        out["model_type"] = "videomae"
        out.pop("attn_implementation")
        for name, default in (("output_hidden_states", False), ("output_attentions", False), ("return_dict", True)):
            if out[name] == default:  # written only when set, as transformers' to_json_string leaves defaults out
                del out[name]
        return out

    def to_json_string(self, use_diff: bool = True) -> str:
        "config.json's text, as transformers' method gives it (`use_diff` is accepted: this writes every size)."
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    def save_pretrained(self, save_directory, **options) -> str:
        """Write `save_directory/config.json` (atomically), as transformers' config method does; its options (push to
        the Hub, ...) are accepted and not needed. Also what makes transformers' Trainer write config.json beside every
        checkpoint of our model: pass `processing_class=model.config` (Trainer saves the processing class with the
        weights, and only a transformers model's own save_pretrained would write the config)."""
        return str(write_text_atomic(os.path.join(os.fspath(save_directory), "config.json"), self.to_json_string()))


@dataclass
class PreprocessorConfig:
    """How a checkpoint's frames are processed (transformers' `preprocessor_config.json`). The published checkpoints
    say ImageNet statistics; transformers' class default and its integration tests use 0.5 / 0.5."""
    size: int | tuple[int, int] = 224  # an int: the short side after resizing; (height, width): an exact resize
    crop_size: int = 224
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)

    @classmethod
    def default(cls, config: VideoMAEConfig) -> "PreprocessorConfig":
        """How every model of this package processes its frames until a checkpoint says otherwise: the short side
        resized to the model's `image_size`, a centred square crop of it, ImageNet statistics."""
        return cls(size=config.image_size, crop_size=config.image_size)

    @classmethod
    def from_json_file(cls, path, image_size: int = 224) -> "PreprocessorConfig":
        "Read transformers' spelling; a missing size or crop means the model's own `image_size`."
        path = os.fspath(path)

        def triple(value):
            return (float(value),) * 3 if isinstance(value, (int, float)) else tuple(float(v) for v in value)

        try:
            with open(path, encoding="utf-8") as f:
                values = json.load(f)
            size = values.get("size") or {"shortest_edge": image_size}
            if isinstance(size, dict):
                size = size["shortest_edge"] if "shortest_edge" in size else (int(size["height"]), int(size["width"]))
            elif isinstance(size, (list, tuple)):
                size = (int(size[0]), int(size[1]))
            crop = values.get("crop_size") or image_size
            if isinstance(crop, dict):
                if crop.get("height") != crop.get("width"):
                    raise ValueError(f"only square crops are supported, got {crop}")
                crop = crop["height"]
            return cls(size=size if isinstance(size, tuple) else int(size), crop_size=int(crop),
                       mean=triple(values.get("image_mean", cls.mean)), std=triple(values.get("image_std", cls.std)))
        except FileNotFoundError:
            raise FileNotFoundError(f"{path}: no such preprocessor config") from None
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ValueError(f"{path}: not a readable preprocessor config ({e})") from e
