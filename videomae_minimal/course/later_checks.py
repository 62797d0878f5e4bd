"""The trusted checks of 09 (`from_original_state_dict`) and 10 (`parameter_groups`): what the grader draws for
the kernel, and how it compares the student's results in its own process. Written by hand (no notebook); registered
in `trusted_checks.TRUSTED_CHECKS` beside the earlier notebooks' checks.

The expected answers are independent of the student's notebook: 09's are transformers' own `from_pretrained` and
logits (its input, the original layout, is transformers' conversion script read backwards: appendix A2's
`to_original_state_dict`), 10's the original MCG-NJU code's rules (`optim_factory.get_parameter_groups` with its
`LayerDecayValueAssigner`), transcribed here."""
from __future__ import annotations

from .draws import fresh_seed

__all__ = ["NAME_SIZES", "prepare_original_names", "compare_original_names", "original_recipe",
           "prepare_parameter_groups", "compare_parameter_groups"]

# 09 · from_original_state_dict. Three models whose names differ: mean pooling (fc_norm), no mean pooling (the
# encoder's final norm, the original's `norm`), and pre-training (everything under `encoder.`, the decoder's blocks,
# mask token, encoder_to_decoder).
NAME_SIZES = dict(image_size=32, patch_size=16, num_frames=4, hidden_size=32, num_attention_heads=4,
                  intermediate_size=64, decoder_hidden_size=16, decoder_num_hidden_layers=1,
                  decoder_num_attention_heads=2, decoder_intermediate_size=32)
NAME_KINDS = {  # kind: (transformers class, config changes, what the student's feedback calls it)
    "mean": ("VideoMAEForVideoClassification", {}, "a classifier with mean pooling"),
    "layernorm": ("VideoMAEForVideoClassification", {"use_mean_pooling": False}, "a classifier without mean pooling"),
    "pretraining": ("VideoMAEForPreTraining", {}, "a pre-training model"),
}
NO_PLACE = "blocks.0.attn.relative_position_bias_table"  # a tensor VideoMAE does not have


def prepare_original_names():
    """transformers models with sizes and weights drawn now; the kernel gets their tensors in the original layout, the
    grader keeps their configs and logits."""
    import secrets

    import torch
    import transformers
    from ..checkpoint_formats import to_original_state_dict

    generator = torch.Generator().manual_seed(fresh_seed())
    sizes = {**NAME_SIZES, "num_hidden_layers": 2, "num_labels": 2 + secrets.randbelow(6)}  # weights, labels: drawn
    video = torch.randn(2, 4, 3, 32, 32, generator=generator)  # (B, T, C, H, W): a (2, 2, 2) grid of 8 tokens
    hidden = torch.zeros(2, 8, dtype=torch.bool)
    hidden[:, torch.randperm(8, generator=generator)[:4]] = True  # 4 of 8 hidden, the same in each clip
    inputs, expected = {"no_place": NO_PLACE}, {"video": video, "hidden": hidden}
    for kind, (name, changes, _) in NAME_KINDS.items():
        config = transformers.VideoMAEConfig(**sizes, **changes)
        theirs = getattr(transformers, name)(config).eval()
        with torch.no_grad():
            for p in theirs.parameters():
                p.copy_(torch.randn(p.shape, generator=generator) * 0.3)  # every tensor's place shows in the logits
            logits = (theirs(video, hidden) if kind == "pretraining" else theirs(video)).logits
        inputs[f"state_{kind}"] = {k: v.clone() for k, v in to_original_state_dict(theirs.state_dict()).items()}
        expected[kind] = (name, config, logits)
    return inputs, expected


def _loaded_by_transformers(state: dict, name: str, config):
    "transformers' own from_pretrained on a folder holding `state` beside `config`: (model, loading info)."
    import tempfile
    from pathlib import Path

    import transformers
    from safetensors.torch import save_file

    with tempfile.TemporaryDirectory() as folder:
        config.save_pretrained(folder)
        save_file({k: v.clone() for k, v in state.items()}, Path(folder) / "model.safetensors", metadata={"format": "pt"})
        transformers.logging.set_verbosity_error()
        return getattr(transformers, name).from_pretrained(folder, output_loading_info=True)


def compare_original_names(saved: dict, expected: dict) -> str | None:
    import torch

    for kind, (name, _, what) in NAME_KINDS.items():
        state = saved.get(kind)
        if not isinstance(state, dict) or not state or not all(
                isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
            return f"{what}: return a dict of our tensor names (transformers') to tensors"
        _, config, logits = expected[kind]
        model, info = _loaded_by_transformers(state, name, config)
        for problem, said in (("missing_keys", "found no tensor for"), ("unexpected_keys", "has no place for"),
                              ("mismatched_keys", "found the wrong shape for")):
            names = sorted(str(k[0] if isinstance(k, tuple) else k) for k in info.get(problem) or ())
            if names:
                return f"{what}: transformers' from_pretrained {said} {names[:4]}{' ...' if len(names) > 4 else ''}"
        with torch.no_grad():
            args = (expected["video"], expected["hidden"]) if kind == "pretraining" else (expected["video"],)
            got = model.eval()(*args).logits
        worst = (got.double() - logits.double()).abs().max().item()
        if not worst <= 1e-5:
            return (f"{what}: transformers' logits with your tensors differ from the original's by up to {worst:.3g}; "
                    "check how qkv comes apart (rows q | k | v) and where each bias goes")
    refused = saved.get("no_place")
    if not isinstance(refused, torch.Tensor) or int(refused) != 2:
        said = {0: "it vanished", 1: "you raised something else, or your CheckpointError does not name it"}.get(
            int(refused) if isinstance(refused, torch.Tensor) and refused.numel() == 1 else -1, "no CheckpointError")
        return f"a tensor with no place in ours ({NO_PLACE}) must raise CheckpointError naming it: {said}"
    return None


# 10 · parameter_groups: the original code's layer-wise decay and weight-decay rules, on our parameter names.


def original_recipe(name: str, ndim: int, num_layers: int, lr: float, weight_decay: float, layer_decay: float):
    """(lr, weight decay) of one parameter as MCG-NJU's run_class_finetuning.py sets them: `get_num_layer_for_vit`
    (0 for patch_embed and the tokens, i + 1 for blocks.i, num_layers + 1 for the rest), scale
    layer_decay ** (num_layers + 1 - layer), and no weight decay for 1-D tensors, biases and the skip list."""
    from ..checkpoint_formats import TO_ORIGINAL

    original = name  # the original's name: its classifier keeps the encoder at the top level, blocks.{i}, head
    for ours, theirs in TO_ORIGINAL:
        original = original.replace(ours, theirs)
    if original in ("cls_token", "mask_token", "pos_embed") or original.startswith("patch_embed"):
        layer = 0
    elif original.startswith("blocks"):
        layer = int(original.split(".")[1]) + 1
    else:
        layer = num_layers + 1
    no_decay = ndim == 1 or original.endswith(".bias") or original in ("pos_embed", "cls_token")
    return lr * layer_decay ** (num_layers + 1 - layer), 0.0 if no_decay else weight_decay


def prepare_parameter_groups():
    "A classifier's sizes and the three rates, drawn now; the expected (lr, weight decay) of every parameter."
    import secrets

    import torch
    from ..classifier import VideoMAEForVideoClassification
    from ..config import VideoMAEConfig

    sizes = dict(image_size=32, patch_size=16, num_frames=4, hidden_size=32, num_attention_heads=4,
                 intermediate_size=64, num_hidden_layers=1 + secrets.randbelow(4), num_labels=2 + secrets.randbelow(6),
                 use_mean_pooling=bool(secrets.randbelow(2)))
    lr, weight_decay = 10 ** -(2 + secrets.randbelow(2000) / 1000), 0.01 + secrets.randbelow(100) / 1000
    layer_decay = 0.5 + secrets.randbelow(450) / 1000
    model = VideoMAEForVideoClassification(VideoMAEConfig(**sizes))
    expected = {name: original_recipe(name, p.ndim, sizes["num_hidden_layers"], lr, weight_decay, layer_decay)
                for name, p in model.named_parameters()}
    expected["videomae.embeddings.patch_embeddings.projection.bias"] = None  # the kernel freezes it: it belongs to no group
    settings = torch.tensor([lr, weight_decay, layer_decay], dtype=torch.float64)
    return {"sizes": sizes, "settings": settings}, expected


def compare_parameter_groups(saved: dict, expected: dict) -> str | None:
    import torch

    counts, lrs, decays = saved.get("count"), saved.get("lr"), saved.get("weight_decay")
    if not all(isinstance(t, torch.Tensor) and t.shape == (len(expected),) for t in (counts, lrs, decays)):
        return f"the grader could not read a group for each of the model's {len(expected)} parameters"
    for (name, want), count, lr, decay in zip(expected.items(), counts.tolist(), lrs.tolist(), decays.tolist()):
        if want is None:
            if count:
                return f"{name} is frozen (requires_grad=False): it belongs to no group, you put it in {count}"
            continue
        if count != 1:
            return f"{name} is in {count} groups: each trainable parameter belongs to exactly one"
        if abs(lr - want[0]) > 1e-9 * want[0]:
            return (f"{name}: learning rate {lr:.6g}, the recipe gives {want[0]:.6g} (lr * layer_decay ** (L + 1 - layer), "
                    "layer 0 for the patch embedding, i + 1 for block i, L + 1 for everything after the blocks)")
        if abs(decay - want[1]) > 1e-12:
            return (f"{name}: weight decay {decay:.6g}, the recipe gives {want[1]:.6g} (no weight decay for biases and "
                    "other 1-D tensors: LayerNorm scales)")
    return None
