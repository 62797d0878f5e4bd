"""The model against transformers (the independent reference): random non-trivial weights saved by transformers'
own classes, loaded into ours, run on the same input."""
import json

import pytest
import torch

import videomae_minimal as vm
from videomae_minimal import (VideoMAEConfig, from_pretrained, random_mask, sinusoid_table, to_tubelets, tube_mask)

transformers = pytest.importorskip("transformers")
from transformers.models.videomae.modeling_videomae import get_sinusoid_encoding_table  # noqa: E402
from conftest import ROOT, TINY  # the tiny sizes shared by the parity tests

transformers.logging.set_verbosity_error()
transformers.utils.logging.disable_progress_bar()

VARIANTS = {
    "default": {},
    "no-mean-pooling": dict(use_mean_pooling=False),
    "no-qkv-bias": dict(qkv_bias=False),
    "tubelet-4": dict(tubelet_size=4, num_frames=8),
    "frames-6-size-48": dict(num_frames=6, image_size=48, patch_size=16),
    "no-norm-pix": dict(norm_pix_loss=False, use_mean_pooling=False),
    "eps-1e-6": dict(layer_norm_eps=1e-6, qkv_bias=False, use_mean_pooling=False),
}
CLASSES = {"model": "VideoMAEModel", "pretraining": "VideoMAEForPreTraining", "classification": "VideoMAEForVideoClassification"}


def randomize(model, seed=0):
    "Non-trivial weights: transformers' init leaves biases at 0, norms at 1 and the mask token at 0."
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=g)
            if p.ndim >= 2:
                p.copy_(noise / p.shape[-1] ** 0.5)
            elif name.endswith("weight"):  # LayerNorm scales
                p.copy_(1 + 0.2 * noise)
            else:  # biases, mask token
                p.copy_(0.2 * noise)
    return model


def hf_config(variant):
    values = {**TINY, **VARIANTS[variant]}
    if "qkv_bias" in values:
        values["qv_bias"] = values.pop("qkv_bias")
    return transformers.VideoMAEConfig(**values)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    "One saved transformers model per (variant, class), with its reference and ours loaded both ways."
    cache = {}

    def get(variant, kind):
        if (variant, kind) not in cache:
            theirs = randomize(getattr(transformers, CLASSES[kind])(hf_config(variant)).eval())
            folder = tmp_path_factory.mktemp(f"{variant}-{kind}")
            theirs.save_pretrained(folder)
            cache[variant, kind] = (theirs, from_pretrained(folder), from_pretrained(folder, attn_implementation="eager"), folder)
        return cache[variant, kind]
    return get


def inputs(config, batch=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    pixel_values = torch.randn(batch, config.num_frames, 3, config.image_size, config.image_size, generator=g)
    mask = tube_mask(batch, config.grid, 0.75, generator=g)
    return pixel_values, mask


def assert_close_relative(ours, theirs, tol=1e-5):
    scale = theirs.abs().max().item()
    assert ours.shape == theirs.shape
    assert scale > 1e-3  # a real signal, not a zero output
    assert (ours - theirs).abs().max().item() <= tol * scale, (ours - theirs).abs().max().item() / scale


@pytest.mark.parametrize("variant", VARIANTS)
def test_model_parity(saved, variant):
    theirs, ours, ours_eager, _ = saved(variant, "model")
    assert type(ours) is vm.VideoMAEModel
    pixel_values, mask = inputs(ours.config)
    with torch.no_grad():
        for m in (None, mask):
            reference = theirs(pixel_values, bool_masked_pos=m).last_hidden_state
            assert_close_relative(ours(pixel_values, m).last_hidden_state, reference)
            assert_close_relative(ours_eager(pixel_values, m).last_hidden_state, reference)


@pytest.mark.parametrize("variant", VARIANTS)
def test_pretraining_parity(saved, variant):
    theirs, ours, ours_eager, _ = saved(variant, "pretraining")
    assert type(ours) is vm.VideoMAEForPreTraining
    pixel_values, mask = inputs(ours.config)
    with torch.no_grad():
        reference = theirs(pixel_values, bool_masked_pos=mask)
        for model in (ours, ours_eager):
            out = model(pixel_values, mask)
            assert_close_relative(out.logits, reference.logits)
            assert abs(out.loss.item() - reference.loss.item()) <= 1e-5 * reference.loss.item()


@pytest.mark.parametrize("variant", VARIANTS)
def test_classification_parity(saved, variant):
    theirs, ours, ours_eager, _ = saved(variant, "classification")
    assert type(ours) is vm.VideoMAEForVideoClassification
    pixel_values, _ = inputs(ours.config, batch=3)
    labels = torch.tensor([0, 3, 4])
    with torch.no_grad():
        reference = theirs(pixel_values, labels=labels)
        for model in (ours, ours_eager):
            out = model(pixel_values, labels=labels)
            assert_close_relative(out.logits, reference.logits)
            assert abs(out.loss.item() - reference.loss.item()) <= 1e-5 * reference.loss.item()


def tensors_in(output):
    "Every tensor a module returned: a tensor, a tuple of them (None allowed), or one of our output dataclasses."
    if isinstance(output, torch.Tensor):
        return [output]
    if isinstance(output, (tuple, list)):
        return [t for item in output for t in tensors_in(item)]
    if isinstance(output, dict):  # our outputs (outputs.ModelOutput) are dicts of their fields
        return [t for value in output.values() for t in tensors_in(value)]
    return []


@pytest.mark.parametrize("kind", ["classification", "pretraining"])
def test_forward_hooks_see_what_each_module_returned(saved, kind):
    "A hook that keeps references to every sub-module's outputs under no_grad records what a cloning hook records."
    _, ours, _, _ = saved("no-mean-pooling" if kind == "pretraining" else "default", kind)
    pixel_values, mask = inputs(ours.config)

    def record(clone: bool) -> dict:
        kept = {}

        def hook(name):
            return lambda module, args, output: kept.__setitem__(name, [t.clone() if clone else t for t in tensors_in(output)])

        handles = [module.register_forward_hook(hook(name or "the model")) for name, module in ours.named_modules()]
        try:
            with torch.no_grad():
                ours(pixel_values, mask) if kind == "pretraining" else ours(pixel_values)
        finally:
            for handle in handles:
                handle.remove()
        return kept

    by_reference, cloned = record(clone=False), record(clone=True)
    assert set(by_reference) == set(cloned) and len(cloned) >= 20
    changed = [name for name in cloned
               if any(not torch.equal(a, b) for a, b in zip(by_reference[name], cloned[name]))]
    assert not changed, f"written in place after the module returned: {changed}"


def test_hidden_states_and_attentions_match_transformers(saved):
    _, ours, _, folder = saved("no-mean-pooling", "model")
    eager = transformers.VideoMAEModel.from_pretrained(folder, attn_implementation="eager").eval()  # it returns probabilities only eagerly
    pixel_values, mask = inputs(ours.config)
    for bool_masked_pos in (None, mask):
        with torch.no_grad():
            reference = eager(pixel_values, bool_masked_pos=bool_masked_pos, output_hidden_states=True, output_attentions=True)
            out = ours(pixel_values, bool_masked_pos, output_hidden_states=True, output_attentions=True)
        assert len(out.hidden_states) == len(reference.hidden_states) == ours.config.num_hidden_layers + 1
        for a, b in zip(out.hidden_states, reference.hidden_states):
            assert_close_relative(a, b)
        assert len(out.attentions) == len(reference.attentions) == ours.config.num_hidden_layers
        for a, b in zip(out.attentions, reference.attentions):
            assert a.shape == (2, ours.config.num_attention_heads, b.shape[-1], b.shape[-1])
            assert (a - b).abs().max() <= 1e-5
        assert_close_relative(out.last_hidden_state, reference.last_hidden_state)
    with torch.no_grad():
        plain = ours(pixel_values)
    assert plain.hidden_states is None and plain.attentions is None


def test_gradients_match(saved):
    "One pre-training backward pass: the same gradient as transformers for every parameter."
    theirs, ours, _, _ = saved("default", "pretraining")
    pixel_values, mask = inputs(ours.config)
    theirs.zero_grad(); ours.zero_grad()
    theirs(pixel_values, bool_masked_pos=mask).loss.backward()
    ours(pixel_values, mask).loss.backward()
    their_grads = vm.checkpoints.from_transformers_state_dict({n: p.grad for n, p in theirs.named_parameters()})
    our_grads = {n: p.grad for n, p in ours.named_parameters()}
    assert set(their_grads) == set(our_grads)
    for name, grad in our_grads.items():
        assert grad is not None and grad.abs().max() > 0, name
        assert (grad - their_grads[name]).abs().max() <= 1e-4 * their_grads[name].abs().max(), name


def test_module_backward_hooks_see_transformers_gradients(saved):
    "Gradient-attribution tools hook modules: training must not write in place over a hooked module's output."
    theirs, ours, _, _ = saved("default", "pretraining")
    pixel_values, mask = inputs(ours.config)
    seen = {}

    def keep(name):
        def hook(module, grad_input, grad_output):
            seen[name] = grad_output[0].detach().clone()
        return hook

    handles = [ours.videomae.encoder.layer[0].output.dense.register_full_backward_hook(keep("ours mlp")),
               ours.videomae.encoder.layer[0].attention.output.dense.register_full_backward_hook(keep("ours attention")),
               theirs.videomae.encoder.layer[0].output.dense.register_full_backward_hook(keep("theirs mlp")),
               theirs.videomae.encoder.layer[0].attention.output.dense.register_full_backward_hook(keep("theirs attention"))]
    try:
        ours(pixel_values, mask).loss.backward()
        theirs(pixel_values, bool_masked_pos=mask).loss.backward()
    finally:
        for handle in handles:
            handle.remove()
        ours.zero_grad(), theirs.zero_grad()
    for part in ("mlp", "attention"):
        assert_close_relative(seen[f"ours {part}"], seen[f"theirs {part}"], tol=1e-4)


def test_sdpa_and_eager_agree_on_the_base_size():
    torch.manual_seed(0)
    attn = vm.encoder.Attention(768, 12, qkv_bias=True)
    torch.nn.init.normal_(attn.attention.query.bias); torch.nn.init.normal_(attn.attention.value.bias)
    eager = vm.encoder.Attention(768, 12, qkv_bias=True, attn_implementation="eager")
    eager.load_state_dict(attn.state_dict())
    x = torch.randn(1, 1568, 768)
    with torch.no_grad():
        fused, none = attn(x)
        explicit, probabilities = eager(x)
        assert_close_relative(fused, explicit)
        asked, asked_probabilities = attn(x, output_attentions=True)  # SDPA asked for probabilities: the explicit math
    assert none is None and probabilities.shape == (1, 12, 1568, 1568)
    assert torch.equal(asked, explicit) and torch.equal(asked_probabilities, probabilities)


@pytest.mark.parametrize("n,d", [(1568, 768), (1568, 384), (1568, 512), (1568, 1024), (3136, 1280), (10, 7), (1, 2)])
def test_sinusoid_table_bit_exact(n, d):
    ours = sinusoid_table(n, d)
    assert ours.dtype == torch.float32 and ours.shape == (n, d)
    assert torch.equal(ours, get_sinusoid_encoding_table(n, d)[0])


@pytest.mark.parametrize("name,hf", [("base", {}), ("large", dict(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096))])
def test_base_parameter_counts(name, hf):
    ours = vm.VideoMAEModel(VideoMAEConfig(**hf))
    theirs = transformers.VideoMAEModel(transformers.VideoMAEConfig(**hf))
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in theirs.parameters())
    if name == "base":
        assert 86e6 < sum(p.numel() for p in ours.parameters()) < 87e6


def test_tubelet_embedding_is_a_linear_over_patches():
    config = VideoMAEConfig(**TINY)
    embed = vm.TubeletEmbedding(config)
    x = torch.randn(2, 4, 3, 32, 32)
    # The reference: a plain matmul with the same weights over patches gathered by explicit indexing.
    t, h, w = config.grid
    rows = []
    for ti in range(t):
        for hi in range(h):
            for wi in range(w):
                block = x[:, ti * 2:(ti + 1) * 2, :, hi * 8:(hi + 1) * 8, wi * 8:(wi + 1) * 8]  # (B, ts, C, p, p)
                rows.append(block.permute(0, 2, 1, 3, 4).reshape(2, -1))  # (B, C*ts*p*p)
    flat = torch.stack(rows, dim=1)  # (B, N, C*ts*p*p)
    expected = flat @ embed.projection.weight.reshape(config.hidden_size, -1).T + embed.projection.bias
    torch.testing.assert_close(embed(x), expected, atol=1e-5, rtol=1e-5)


def test_targets_order_is_channel_fastest():
    x = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).reshape(1, 2, 3, 4, 4)  # (B, T, C, H, W)
    tubes = to_tubelets(x, 2, 4)  # (1, 1, 32, 3)
    assert tubes.shape == (1, 1, 32, 3)
    # first tubelet, first pixel (dt=0, dy=0, dx=0): its three channels, then the next pixel along x
    assert tubes[0, 0, 0].tolist() == [x[0, 0, c, 0, 0].item() for c in range(3)]
    assert tubes[0, 0, 1].tolist() == [x[0, 0, c, 0, 1].item() for c in range(3)]
    assert tubes[0, 0, 16].tolist() == [x[0, 1, c, 0, 0].item() for c in range(3)]


def test_tube_mask_like_the_original():
    g = torch.Generator().manual_seed(0)
    mask = tube_mask(4, (8, 14, 14), 0.9, generator=g)
    assert mask.shape == (4, 1568) and mask.dtype == torch.bool
    assert (mask.sum(1) == 1408).all()  # the original: int(0.9 * 196) = 176 per frame, tiled over 8 frames
    frames = mask.reshape(4, 8, 196)
    assert (frames == frames[:, :1]).all()
    assert len({tuple(m.tolist()) for m in frames[:, 0]}) == 4
    again = tube_mask(4, (8, 14, 14), 0.9, generator=torch.Generator().manual_seed(0))
    assert torch.equal(mask, again)
    assert (random_mask(3, 100, 0.5).sum(1) == 50).all()
    # uniform: every position is hidden about equally often
    counts = tube_mask(2000, (1, 4, 4), 0.5, generator=g).float().mean(0)
    assert ((counts - 0.5).abs() < 0.05).all()
    with pytest.raises(ValueError, match="mask_ratio"):
        tube_mask(1, (8, 14, 14), 1.0)


def test_bad_inputs_raise_before_compute():
    config = VideoMAEConfig(**TINY)
    model = vm.VideoMAEForPreTraining(config)
    x, mask = inputs(config)
    with pytest.raises(ValueError, match="bool_masked_pos"):
        model(x)
    with pytest.raises(ValueError, match=r"shape \(B, 4, 3, 32, 32\)"):
        model(x[:, :3], mask)
    with pytest.raises(ValueError, match="float tensor"):
        model(x.to(torch.uint8), mask)
    uneven = mask.clone(); uneven[0, ~mask[0]] = True
    with pytest.raises(ValueError, match="same number"):
        model(x, uneven)
    with pytest.raises(ValueError, match="bool tensor"):
        model(x, mask.float())
    with pytest.raises(ValueError, match=r"\(2, 32\)"):
        model(x, mask[:, :10])


@pytest.mark.parametrize("bad,match", [
    (dict(hidden_size=50, num_attention_heads=4), "hidden_size .50. must be divisible"),
    (dict(decoder_hidden_size=10, decoder_num_attention_heads=3), "decoder_hidden_size"),
    (dict(image_size=30, patch_size=8), "image_size"),
    (dict(num_frames=5, tubelet_size=2), "num_frames"),
    (dict(hidden_act="mish"), "hidden_act"),
    (dict(attn_implementation="flash"), "attn_implementation"),
    (dict(num_hidden_layers=0), "num_hidden_layers"),
    (dict(id2label={0: "a", 2: "c"}), "id2label"),
])
def test_config_rejects_bad_values(bad, match):
    with pytest.raises(ValueError, match=match):
        VideoMAEConfig(**{**TINY, **bad})


def test_config_reads_transformers_json(tmp_path, saved):
    _, _, _, folder = saved("no-qkv-bias", "classification")
    raw = json.loads((folder / "config.json").read_text())
    assert "qv_bias" in raw  # transformers v5's spelling
    config = VideoMAEConfig.from_json_file(folder / "config.json")
    assert config.qkv_bias is False and config.num_labels == 5 and config.id2label[4] == "LABEL_4"
    v4 = {**raw, "qkv_bias": True}
    v4.pop("qv_bias")
    (tmp_path / "v4.json").write_text(json.dumps(v4))
    assert VideoMAEConfig.from_json_file(tmp_path / "v4.json").qkv_bias is True
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="bad.json"):
        VideoMAEConfig.from_json_file(tmp_path / "bad.json")
    assert VideoMAEConfig.from_json_file(folder / "config.json", num_labels=10).num_labels == 10  # a new head
    (tmp_path / "bert.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(ValueError, match="bert"):
        VideoMAEConfig.from_json_file(tmp_path / "bert.json")
    (tmp_path / "odd.json").write_text(json.dumps({**raw, "hidden_size": 50}))
    with pytest.raises(ValueError, match="odd.json.*hidden_size"):
        VideoMAEConfig.from_json_file(tmp_path / "odd.json")


def test_from_pretrained_errors(tmp_path, saved):
    with pytest.raises(vm.CheckpointError, match="nowhere: no such file or directory"):
        from_pretrained(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "config.json").write_text(json.dumps(hf_config("default").to_dict()))
    with pytest.raises(vm.CheckpointError, match="no weights in this directory"):
        from_pretrained(tmp_path / "empty")
    _, _, _, folder = saved("default", "classification")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text((folder / "config.json").read_text())
    (broken / "model.safetensors").write_bytes((folder / "model.safetensors").read_bytes()[:1000])
    with pytest.raises(vm.CheckpointError, match="model.safetensors: not a readable safetensors"):
        from_pretrained(broken)
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    raw = json.loads((folder / "config.json").read_text())
    (wrong / "config.json").write_text(json.dumps({**raw, "num_hidden_layers": 3}))
    (wrong / "model.safetensors").write_bytes((folder / "model.safetensors").read_bytes())
    with pytest.raises(vm.CheckpointError, match="num_hidden_layers: weights say 2, config says 3"):
        from_pretrained(wrong)


def test_renaming_names_unknown_tensors():
    with pytest.raises(vm.CheckpointError, match="videomae.pooler.dense.weight"):
        vm.checkpoints.from_transformers_state_dict({"videomae.pooler.dense.weight": torch.zeros(1)})
    renamed = vm.checkpoints.from_transformers_state_dict({  # the published (v4) spelling of the biases, renamed
        "videomae.encoder.layer.0.attention.attention.q_bias": torch.zeros(2),
        "decoder.decoder_layers.0.attention.attention.v_bias": torch.zeros(2)})
    assert sorted(renamed) == ["decoder.decoder_layers.0.attention.attention.value.bias",
                               "videomae.encoder.layer.0.attention.attention.query.bias"]


def test_every_model_carries_its_processing_and_the_default_is_one():
    "preprocessor_config is part of the model (issue 28): the one default, replaced by a checkpoint's own file."
    import ast

    import videomae_minimal as vm
    from videomae_minimal.bundled import TINY_FINETUNED
    from videomae_minimal.config import PreprocessorConfig

    config = vm.VideoMAEConfig(image_size=32, patch_size=16, num_frames=4, hidden_size=32, num_hidden_layers=1,
                               num_attention_heads=4, intermediate_size=64)
    for cls in (vm.VideoMAEModel, vm.VideoMAEForPreTraining, vm.VideoMAEForVideoClassification):
        assert cls(config).preprocessor_config == PreprocessorConfig(size=32, crop_size=32), cls.__name__
    stored = json.loads((TINY_FINETUNED / "preprocessor_config.json").read_text())
    assert list(vm.from_pretrained(TINY_FINETUNED).preprocessor_config.mean) == stored["image_mean"]
    for path in (ROOT / "videomae_minimal").rglob("*.py"):  # nobody guesses it with getattr(model, ..., None)
        calls = [n for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Call)
                 and getattr(n.func, "id", None) == "getattr" and len(n.args) > 1
                 and getattr(n.args[1], "value", None) == "preprocessor_config"]
        assert not calls, path.name
