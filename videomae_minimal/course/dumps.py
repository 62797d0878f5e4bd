"""The code a trusted check runs in the student's kernel: the student's function on the grader's inputs, its results
saved as tensors for the grader to compare in its own process. Written by hand (no notebook).

The package never calls these functions: `trusted_checks` sends each one's source text into the kernel as its check
cell, followed by one call. The first two parameters are the paths of the inputs the grader drew (a torch file,
read with weights_only) and of the results to write; the others are the student's definitions, passed by name
from the notebook, so that a missing one is the notebook's own NameError. Each function imports what it needs
inside: only its own text reaches the kernel. The expected answers never do."""
from __future__ import annotations

__all__ = ["dump_sampled_indices", "dump_tubelets", "dump_masks", "dump_targets", "dump_resized_shapes",
           "dump_sinusoid_tables", "dump_attention", "dump_classifier", "dump_original_names", "dump_parameter_groups"]


def dump_sampled_indices(inputs_path: str, results_path: str, sample_frame_indices) -> None:
    "01 · sample_frame_indices on the fixed cases and those the grader drew: (seed, clip_len, rate, seg_len) rows."
    import numpy as np
    import torch

    given = torch.load(inputs_path, weights_only=True)
    results = {}
    first = sample_frame_indices(16, 4, 300, rng=0)
    results["is_int64_array"] = torch.tensor(isinstance(first, np.ndarray) and first.dtype == np.int64)
    results["first"] = torch.as_tensor(np.asarray(first, dtype=np.float64))
    for seed, clip_len, rate, seg_len in given["cases"].tolist():
        got = sample_frame_indices(clip_len, rate, seg_len, rng=np.random.RandomState(seed))
        results[f"{seed}:{clip_len}:{rate}:{seg_len}"] = torch.as_tensor(np.asarray(got, dtype=np.float64))
    generated = sample_frame_indices(16, 4, 300, rng=np.random.default_rng(5))
    results["generator"] = torch.as_tensor(np.asarray(generated, dtype=np.float64))
    torch.save(results, results_path)
    print("sample_frame_indices: the grader compares your indices")


def dump_tubelets(inputs_path: str, results_path: str, to_tubelets, from_tubelets) -> None:
    "03 · to_tubelets and from_tubelets on the grader's random (B, T, C, H, W) video and an ordered one."
    import torch

    given = torch.load(inputs_path, weights_only=True)
    tubes = to_tubelets(given["video"], 2, 16)
    results = {"tubes": tubes, "back": from_tubelets(tubes, (2, 2, 3), 2, 16),
               "ordered": to_tubelets(given["ordered"], 2, 4)}
    try:  # the decoder's flat form is the student's decision: a failure there is reported, not a crash of the check
        results["back_flat"] = from_tubelets(tubes.flatten(2), (2, 2, 3), 2, 16)
    except Exception as error:
        results["back_flat_error"] = f"{type(error).__name__}: {error}"
    torch.save(results, results_path)
    print("to_tubelets and from_tubelets: the grader compares your tubelets")


def dump_masks(inputs_path: str, results_path: str, tube_mask) -> None:
    "05 · tube_mask on fixed edge cases, then one small mask per generator seed the grader drew (its randomness)."
    import torch

    def seeded(seed: int):
        return torch.Generator().manual_seed(seed)

    seeds = torch.load(inputs_path, weights_only=True)["seeds"].tolist()
    results = {"mask": tube_mask(3, (4, 5, 6), 0.75, generator=seeded(1)),
               "again": tube_mask(3, (4, 5, 6), 0.75, generator=seeded(1)),
               "none": tube_mask(2, (8, 14, 14), 0.0),
               "base": tube_mask(2, (8, 14, 14), 0.9, generator=seeded(0)),
               "fresh": torch.cat([tube_mask(1, (2, 4, 4), 0.5, generator=seeded(seed)) for seed in seeds]),
               "fresh_again": tube_mask(1, (2, 4, 4), 0.5, generator=seeded(seeds[0]))}
    torch.save(results, results_path)
    print("tube_mask: the grader checks your masks")


def dump_targets(inputs_path: str, results_path: str, reconstruction_targets) -> None:
    "07 · reconstruction_targets of the grader's random pixels, with and without norm_pix_loss, and of flat ones."
    import torch
    from videomae_minimal.config import VideoMAEConfig  # the package's, whatever the notebook rebinds

    given = torch.load(inputs_path, weights_only=True)
    results = {f"norm_pix_{norm_pix}": reconstruction_targets(given["pixel_values"],
                                                             VideoMAEConfig(**given["sizes"], norm_pix_loss=norm_pix))
               for norm_pix in (False, True)}
    flat = torch.zeros(1, 4, 3, 32, 32)  # (B, T, C, H, W): one value everywhere, a zero variance
    results["flat"] = reconstruction_targets(flat, VideoMAEConfig(**given["sizes"], norm_pix_loss=True))
    torch.save(results, results_path)
    print("reconstruction_targets: the grader compares your targets")


def dump_resized_shapes(inputs_path: str, results_path: str, resized_shape) -> None:
    "02 · resized_shape for the fixed and the drawn (height, width, size) rows, and one explicit (h, w) size."
    import torch

    given = torch.load(inputs_path, weights_only=True)
    shapes = {f"{height}x{width}@{size}": torch.tensor([float(s) for s in resized_shape(height, width, size)])
              for height, width, size in given["cases"].tolist()}
    shapes["explicit"] = torch.tensor([float(s) for s in resized_shape(256, 340, (112, 160))])
    torch.save(shapes, results_path)
    print("resized_shape: the grader compares your sizes")


def dump_sinusoid_tables(inputs_path: str, results_path: str, sinusoid_table) -> None:
    "04 · sinusoid_table for the fixed and the drawn (n, dim) rows."
    import torch

    tables = {}
    for n, dim in torch.load(inputs_path, weights_only=True)["cases"].tolist():
        table = sinusoid_table(n, dim)
        if not isinstance(table, torch.Tensor):
            raise TypeError(f"return a torch.Tensor, got {type(table).__name__}")
        tables[f"{n}x{dim}"] = table.detach().cpu().clone()
    torch.save(tables, results_path)
    print("sinusoid_table: the grader compares your tables")


def dump_attention(inputs_path: str, results_path: str, Attention) -> None:
    "06 · Attention with the grader's random weights (transformers' state dict: our names) on its random tokens."
    import torch

    given = torch.load(inputs_path, weights_only=True)
    implementation, tokens = given["implementation"], given["tokens"]
    results = {}
    with torch.no_grad():
        ours = Attention(32, 4, qkv_bias=True, attn_implementation=implementation)
        ours.load_state_dict(given["state"])
        got = ours(tokens)
        if not (isinstance(got, tuple) and len(got) == 2):
            raise TypeError(f"{implementation}: return a pair (output, probabilities), got {type(got).__name__}")
        results["output"], results["probabilities"] = got
        results["asked_output"], results["asked_probabilities"] = ours(tokens, output_attentions=True)
        plain = Attention(32, 4, qkv_bias=False, attn_implementation=implementation)
        plain.load_state_dict({k: v for k, v in given["state"].items() if not k.endswith(("query.bias", "value.bias"))})
        results["no_bias_output"] = plain(tokens)[0]
    torch.save({k: v for k, v in results.items() if v is not None}, results_path)
    print(f"Attention, {implementation}: the grader compares your results")


def dump_classifier(inputs_path: str, results_path: str, VideoMAEForVideoClassification) -> None:
    "08 · the classifier, mean and cls pooling, with the grader's random weights on its random clip and labels."
    import torch
    from videomae_minimal.checkpoints import load_weights
    from videomae_minimal.config import VideoMAEConfig

    given = torch.load(inputs_path, weights_only=True)
    results = {}
    for pooling in ("mean", "cls"):
        ours = VideoMAEForVideoClassification(VideoMAEConfig(**given["sizes"], use_mean_pooling=pooling == "mean")).eval()
        load_weights(ours, given[f"state_{pooling}"])
        with torch.no_grad():
            out = ours(given["pixel_values"], labels=given["labels"])
        results[f"logits_{pooling}"] = out.logits
        if out.loss is not None:
            results[f"loss_{pooling}"] = out.loss
    torch.save(results, results_path)
    print("classifier pooling: the grader compares your logits")


def dump_original_names(inputs_path: str, results_path: str, from_original_state_dict) -> None:
    "09 · from_original_state_dict on the grader's three state dicts (the original layout), and on a tensor with no place."
    import torch

    given = torch.load(inputs_path, weights_only=True)
    results = {}
    for kind in ("mean", "layernorm", "pretraining"):
        results[kind] = dict(from_original_state_dict(dict(given[f"state_{kind}"])))
    try:
        from_original_state_dict({given["no_place"]: torch.zeros(3)})
        results["no_place"] = torch.tensor(0)  # it vanished
    except Exception as e:  # the notebook's own CheckpointError class, not the installed package's: matched by name
        named = type(e).__name__ == "CheckpointError" and given["no_place"] in str(e)
        results["no_place"] = torch.tensor(2 if named else 1)
    torch.save(results, results_path)
    print("from_original_state_dict: the grader loads your tensors with transformers' from_pretrained")


def dump_parameter_groups(inputs_path: str, results_path: str, parameter_groups) -> None:
    "10 · parameter_groups on a classifier of the grader's sizes: each parameter's groups, learning rate and decay."
    import torch
    from videomae_minimal.classifier import VideoMAEForVideoClassification
    from videomae_minimal.config import VideoMAEConfig

    given = torch.load(inputs_path, weights_only=True)
    lr, weight_decay, layer_decay = given["settings"].tolist()
    model = VideoMAEForVideoClassification(VideoMAEConfig(**given["sizes"]))
    model.videomae.embeddings.patch_embeddings.projection.bias.requires_grad_(False)  # a frozen tensor: in no group
    groups = list(parameter_groups(model, lr, weight_decay, layer_decay))
    found = {}  # id(parameter) -> [(lr, weight decay) of each group holding it]
    for group in groups:
        for p in group["params"]:
            found.setdefault(id(p), []).append((float(group.get("lr", lr)), float(group.get("weight_decay", weight_decay))))
    params = [p for _, p in model.named_parameters()]
    first = [found.get(id(p), [(float("nan"), float("nan"))])[0] for p in params]
    torch.save({"count": torch.tensor([len(found.get(id(p), [])) for p in params]),
                "lr": torch.tensor([f[0] for f in first], dtype=torch.float64),
                "weight_decay": torch.tensor([f[1] for f in first], dtype=torch.float64)}, results_path)
    print("parameter_groups: the grader compares each parameter's rate with the original recipe's")
