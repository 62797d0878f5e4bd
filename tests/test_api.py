"""A drop-in for transformers' VideoMAE: what a transformers user types, checked against transformers' own numbers
(random non-trivial weights saved by transformers, loaded both ways)."""
import copy
import json
import warnings

import pytest
import torch

import videomae_minimal as vm
from conftest import ROOT, TINY  # TINY: the tiny sizes shared by the parity tests
from videomae_minimal import VideoMAEForPreTraining, VideoMAEForVideoClassification, VideoMAEModel

transformers = pytest.importorskip("transformers")
transformers.logging.set_verbosity_error()
transformers.utils.logging.disable_progress_bar()

OURS = {"model": VideoMAEModel, "pretraining": VideoMAEForPreTraining, "classification": VideoMAEForVideoClassification}
THEIRS = {"model": "VideoMAEModel", "pretraining": "VideoMAEForPreTraining", "classification": "VideoMAEForVideoClassification"}


def randomize(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=g)
            p.copy_(noise / p.shape[-1] ** 0.5 if p.ndim >= 2 else (1 + 0.2 * noise if name.endswith("weight") else 0.2 * noise))
    return model


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    "kind -> (transformers model, its folder), the transformers side loaded eagerly so that it returns attentions."
    out = {}
    for kind, name in THEIRS.items():
        folder = tmp_path_factory.mktemp(kind)
        randomize(getattr(transformers, name)(transformers.VideoMAEConfig(**TINY, use_mean_pooling=kind != "pretraining")))\
            .save_pretrained(folder)
        out[kind] = (getattr(transformers, name).from_pretrained(folder, attn_implementation="eager").eval(), folder)
    return out


def inputs(batch=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, 4, 3, 32, 32, generator=g), vm.tube_mask(batch, (2, 4, 4), 0.75, generator=g)


def call(model, kind, pixel_values, mask, **options):
    if kind == "pretraining":
        return model(pixel_values, bool_masked_pos=mask, **options)
    if kind == "classification":
        return model(pixel_values, labels=torch.tensor([1, 3]), **options)
    return model(pixel_values, **options)


def close(a, b, tol=1e-5):
    assert a.shape == b.shape, (a.shape, b.shape)
    assert (a - b).abs().max().item() <= tol * max(1.0, b.abs().max().item()), (a - b).abs().max().item()


@pytest.mark.parametrize("kind", OURS)
def test_hidden_states_attentions_tuples_and_indexing_match_transformers(saved, kind):
    theirs, folder = saved[kind]
    ours = OURS[kind].from_pretrained(folder)
    pixel_values, mask = inputs()
    with torch.no_grad():
        a = call(theirs, kind, pixel_values, mask, output_hidden_states=True, output_attentions=True)
        b = call(ours, kind, pixel_values, mask, output_hidden_states=True, output_attentions=True)
        a_tuple = call(theirs, kind, pixel_values, mask, output_hidden_states=True, output_attentions=True, return_dict=False)
        b_tuple = call(ours, kind, pixel_values, mask, output_hidden_states=True, output_attentions=True, return_dict=False)
    assert list(b.keys()) == list(a.keys())  # the same fields set, in the same order
    assert len(b.hidden_states) == len(a.hidden_states) == 3 and len(b.attentions) == len(a.attentions) == 2
    for ours_h, theirs_h in zip(b.hidden_states, a.hidden_states):
        close(ours_h, theirs_h)
    for ours_p, theirs_p in zip(b.attentions, a.attentions):
        assert (ours_p - theirs_p).abs().max() <= 1e-5
    assert isinstance(b_tuple, tuple) and len(b_tuple) == len(a_tuple)
    close(b_tuple[0], a_tuple[0])
    close(b[0], a[0])
    close(b.to_tuple()[0], a.to_tuple()[0])
    assert b[0] is b.to_tuple()[0] and b[list(b.keys())[0]] is b[0]


def test_dtypes_as_transformers_loads_them(saved, tmp_path):
    theirs, folder = saved["classification"]
    for options in ({"dtype": torch.bfloat16}, {"torch_dtype": torch.bfloat16}, {"dtype": "bfloat16"}):
        ours = vm.from_pretrained(folder, **options)
        reference = transformers.VideoMAEForVideoClassification.from_pretrained(folder, **options)
        assert {p.dtype for p in ours.parameters()} == {p.dtype for p in reference.parameters()} == {torch.bfloat16}
        assert ours.dtype == torch.bfloat16
    half = tmp_path / "half"
    copy.deepcopy(theirs).to(torch.float16).save_pretrained(half)  # a copy: the fixture's model stays float32
    auto = transformers.VideoMAEForVideoClassification.from_pretrained(half)  # transformers' default is "auto"
    assert {p.dtype for p in auto.parameters()} == {torch.float16}
    for options in ({}, {"dtype": "auto"}):
        assert {p.dtype for p in vm.from_pretrained(half, **options).parameters()} == {torch.float16}
    assert {p.dtype for p in vm.from_pretrained(half, dtype=torch.float32).parameters()} == {torch.float32}
    # bf16 weights compute like transformers' bf16 weights (rounding differs in the last bits of bf16)
    pixel_values, _ = inputs()
    ours, reference = vm.from_pretrained(folder, dtype=torch.bfloat16), transformers.VideoMAEForVideoClassification.from_pretrained(
        folder, dtype=torch.bfloat16).eval()
    with torch.no_grad():
        close(ours(pixel_values).logits.float(), reference(pixel_values.bfloat16()).logits.float(), tol=3e-2)
    ours.save_pretrained(tmp_path / "bf16")
    assert json.loads((tmp_path / "bf16" / "config.json").read_text())["dtype"] == "bfloat16"
    assert {p.dtype for p in vm.from_pretrained(tmp_path / "bf16").parameters()} == {torch.bfloat16}
    with pytest.raises(vm.CheckpointError, match="dtype must be a floating torch dtype"):
        vm.from_pretrained(folder, dtype=torch.int64)


def test_a_new_head_for_your_labels(saved):
    theirs, folder = saved["classification"]
    labels = {0: "cat", 1: "dog", 2: "bird"}
    with pytest.warns(UserWarning, match=r"newly initialised in VideoMAEForVideoClassification .*classifier.bias, classifier.weight"):
        ours = vm.from_pretrained(folder, id2label=labels, ignore_mismatched_sizes=True)
    reference = transformers.VideoMAEForVideoClassification.from_pretrained(folder, id2label=labels,
                                                                            ignore_mismatched_sizes=True)
    assert ours.classifier.weight.shape == reference.classifier.weight.shape == (3, 48)
    assert ours.config.id2label == labels and ours.config.num_labels == 3
    assert torch.equal(ours.videomae.encoder.layer[1].output.dense.weight, theirs.videomae.encoder.layer[1].output.dense.weight)
    with pytest.raises(vm.CheckpointError, match=r"wrong shape \['classifier.bias: checkpoint \(5,\), model \(3,\)'"):
        vm.from_pretrained(folder, num_labels=3)  # transformers refuses too, without ignore_mismatched_sizes


def test_class_methods_build_the_class_asked_for(saved, tmp_path):
    _, pretraining = saved["pretraining"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ours = VideoMAEForVideoClassification.from_pretrained(pretraining, num_labels=3)
    reference = transformers.VideoMAEForVideoClassification.from_pretrained(pretraining, num_labels=3)
    messages = " ".join(str(w.message) for w in caught)
    assert "not used by VideoMAEForVideoClassification: decoder (" in messages and "mask_token" in messages
    assert "newly initialised in VideoMAEForVideoClassification" in messages and "classifier.weight" in messages
    ours_encoder = {k: v for k, v in vm.checkpoints.from_transformers_state_dict(reference.state_dict()).items()
                    if k.startswith("videomae.")}
    assert ours_encoder and all(torch.equal(ours.state_dict()[k], v) for k, v in ours_encoder.items())  # same encoder
    assert ours.classifier.weight.shape == (3, 48)
    encoder = VideoMAEModel.from_pretrained(saved["classification"][1])
    assert type(encoder) is VideoMAEModel and encoder.device == torch.device("cpu") and encoder.dtype == torch.float32
    encoder.save_pretrained(tmp_path / "encoder")
    again = transformers.VideoMAEModel.from_pretrained(tmp_path / "encoder").eval()
    pixel_values, _ = inputs()
    with torch.no_grad():
        close(encoder(pixel_values).last_hidden_state, again(pixel_values).last_hidden_state)
    with pytest.raises(vm.CheckpointError, match="missing .*decoder"):
        VideoMAEForPreTraining.from_pretrained(saved["classification"][1])  # a decoder is never made up


@pytest.mark.parametrize("problem", ["regression", "single_label_classification", "multi_label_classification"])
def test_losses_as_transformers_computes_them(tmp_path, problem):
    num_labels = 1 if problem == "regression" else 4
    theirs = randomize(transformers.VideoMAEForVideoClassification(transformers.VideoMAEConfig(
        **{**TINY, "num_labels": num_labels}))).eval()
    theirs.save_pretrained(tmp_path)
    ours = VideoMAEForVideoClassification.from_pretrained(tmp_path)
    pixel_values, _ = inputs()
    labels = {"regression": torch.tensor([0.3, -1.2]), "single_label_classification": torch.tensor([2, 0]),
              "multi_label_classification": torch.tensor([[1.0, 0, 1, 0], [0, 0, 0, 1]])}[problem]
    reference = theirs(pixel_values, labels=labels).loss
    loss = ours(pixel_values, labels=labels).loss
    assert abs(loss.item() - reference.item()) <= 1e-5 * max(1.0, reference.item())
    loss.backward()
    assert ours.classifier.weight.grad.abs().max() > 0  # a real loss, with a gradient (regression used to give 0.0 and none)
    ours.config.problem_type = problem  # stated instead of guessed: the same loss
    assert abs(ours(pixel_values, labels=labels).loss.item() - reference.item()) <= 1e-5 * max(1.0, reference.item())


@pytest.mark.parametrize("kind", ["classification", "pretraining"])
def test_dropout_acts_where_transformers_applies_it(tmp_path, kind):
    "Probability 1 drops everything, deterministically: the outputs equal transformers' only if the same places drop."
    pixel_values, mask = inputs()
    for hidden, attention in [(1.0, 0.0), (0.0, 1.0)]:
        config = transformers.VideoMAEConfig(**TINY, use_mean_pooling=kind != "pretraining", hidden_dropout_prob=hidden,
                                             attention_probs_dropout_prob=attention)
        theirs = randomize(getattr(transformers, THEIRS[kind])(config))
        folder = tmp_path / f"{hidden}-{attention}"
        theirs.save_pretrained(folder)
        ours = OURS[kind].from_pretrained(folder)
        assert (ours.config.hidden_dropout_prob, ours.config.attention_probs_dropout_prob) == (hidden, attention)
        theirs.train(); ours.train()
        a, b = call(theirs, kind, pixel_values, mask), call(ours, kind, pixel_values, mask)
        close(b.logits, a.logits)
        theirs.eval(); ours.eval()
        with torch.no_grad():
            a, b = call(theirs, kind, pixel_values, mask), call(ours, kind, pixel_values, mask)
        close(b.logits, a.logits)
        plain = OURS[kind](vm.VideoMAEConfig.from_dict({**ours.config.to_dict(), "hidden_dropout_prob": 0.0,
                                                        "attention_probs_dropout_prob": 0.0}))
        plain.load_state_dict(ours.state_dict())
        with torch.no_grad():
            close(call(plain.eval(), kind, pixel_values, mask).logits, b.logits)  # eval mode: no dropout at all


def test_gradient_checkpointing_gives_transformers_gradients(saved):
    theirs, folder = saved["pretraining"]
    ours = VideoMAEForPreTraining.from_pretrained(folder).train()
    theirs.train()
    pixel_values, mask = inputs()
    grads = {}
    for on in (False, True):
        (ours.gradient_checkpointing_enable if on else ours.gradient_checkpointing_disable)()
        assert ours.is_gradient_checkpointing == on
        ours.zero_grad()
        ours(pixel_values, mask).loss.backward()
        grads[on] = {n: p.grad.clone() for n, p in ours.named_parameters()}
    theirs.gradient_checkpointing_enable()
    theirs.zero_grad()
    theirs(pixel_values, bool_masked_pos=mask).loss.backward()
    their_grads = vm.checkpoints.from_transformers_state_dict({n: p.grad for n, p in theirs.named_parameters()})
    for name, grad in grads[True].items():
        assert torch.allclose(grad, grads[False][name], atol=1e-7), name
        close(grad, their_grads[name], tol=1e-4)
    theirs.eval()


def test_export_static_and_dynamic_jit_trace_and_onnx(saved, tmp_path):
    _, folder = saved["classification"]
    model = VideoMAEForVideoClassification.from_pretrained(folder)
    sample, other = inputs(batch=2)[0], inputs(batch=3, seed=1)[0]
    with torch.no_grad():
        reference = model(other).logits
        static = torch.export.export(model, (other,))
        close(static.module()(other).logits, reference)
        dynamic = torch.export.export(model, (sample,), dynamic_shapes=({0: torch.export.Dim("batch")},))
        close(dynamic.module()(other).logits, reference)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            traced = torch.jit.trace(model, (sample,))
        close(traced(other)[0], reference)
    onnxruntime = pytest.importorskip("onnxruntime")
    torch.onnx.export(model, (sample,), tmp_path / "model.onnx", input_names=["pixel_values"], output_names=["logits"],
                      dynamic_shapes=({0: torch.export.Dim("batch")},), dynamo=True)
    logits = onnxruntime.InferenceSession(str(tmp_path / "model.onnx")).run(["logits"], {"pixel_values": other.numpy()})[0]
    close(torch.from_numpy(logits), reference, tol=1e-4)


def test_classify_and_embed_a_video_in_one_call(saved):
    clip = ROOT / "data" / "videos" / "synthetic_motion" / "004_rotate_clockwise.mp4"
    finetuned = ROOT / "data" / "checkpoints" / "tiny-finetuned"
    top = vm.classify_video(clip, finetuned, top_k=3, rate=1)
    assert [label for label, _ in top][0] == "rotate_clockwise" and len(top) == 3
    assert all(a[1] >= b[1] for a, b in zip(top, top[1:])) and 0 < sum(p for _, p in top) <= 1 + 1e-6
    # the pooled vector, computed by transformers' modules on the same input and weights
    reference = transformers.VideoMAEForVideoClassification.from_pretrained(finetuned).eval()
    model = vm.from_pretrained(finetuned)
    pixel_values, _ = vm.video_views(clip, model, "single", rate=1)  # (1, 16, 3, 32, 32)
    with torch.no_grad():
        expected = reference.fc_norm(reference.videomae(pixel_values).last_hidden_state.mean(1))[0]  # (64,)
        probabilities = reference(pixel_values).logits.softmax(-1)[0]
    close(vm.embed_video(clip, model, rate=1), expected)
    assert abs(top[0][1] - probabilities.max().item()) <= 1e-5
    kinetics = vm.classify_video(clip, model, top_k=1, views="kinetics", rate=1)
    assert kinetics[0][0] == "rotate_clockwise"
    with pytest.raises(ValueError, match="views must be 'single' or 'kinetics'"):
        vm.classify_video(clip, model, views="ssv2")
    with pytest.raises(ValueError, match="needs a VideoMAEForVideoClassification"):
        vm.classify_video(clip, ROOT / "data" / "checkpoints" / "tiny-pretrained")


def test_the_command_line_prints_what_classify_video_returns(capsys):
    from videomae_minimal.cli import main

    clip = ROOT / "data" / "videos" / "synthetic_motion" / "006_grow.mp4"
    finetuned = ROOT / "data" / "checkpoints" / "tiny-finetuned"
    assert main(["classify", str(clip), "--checkpoint", str(finetuned), "--rate", "1", "--top-k", "3", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)["predictions"]
    expected = vm.classify_video(clip, finetuned, top_k=3, rate=1)
    assert [(p["label"], round(p["score"], 6)) for p in printed] == [(label, round(score, 6)) for label, score in expected]


def test_outputs_keep_attributes_and_keys_in_step():
    out = vm.VideoClassificationOutput(logits=torch.ones(2, 3))
    assert list(out.keys()) == ["logits"] and out.loss is None and out[0] is out.logits
    out.loss = torch.tensor(0.5)  # as transformers' outputs: setting a field sets the key too, in field order
    assert list(out.keys()) == ["loss", "logits"] and out[0] is out.loss and out["loss"] is out.loss
    out["loss"] = torch.tensor(0.25)
    assert out.loss.item() == 0.25
    out.loss = None
    assert list(out.keys()) == ["logits"]
    with pytest.raises(KeyError, match="has no field 'logit'"):
        out["logit"] = torch.ones(1)


def test_loading_options_and_config_overrides(saved):
    finetuned = ROOT / "data" / "checkpoints" / "tiny-finetuned"
    same = vm.from_pretrained(finetuned, num_labels=8)  # the checkpoint's own count: its names stay
    assert same.config.id2label[0] == "move_right"
    model = vm.from_pretrained(finetuned, problem_type="multi_label_classification", hidden_dropout_prob=0.1)
    assert model.config.problem_type == "multi_label_classification" and model.videomae.encoder.layer[0].output.dropout.p == 0.1
    reference = transformers.VideoMAEForVideoClassification.from_pretrained(finetuned, hidden_dropout_prob=0.1)
    assert reference.config.hidden_dropout_prob == 0.1  # what transformers does with the same keyword
    with pytest.raises(TypeError, match="from_pretrained got 'hidden_dropout': neither an option nor a VideoMAEConfig field"):
        vm.from_pretrained(finetuned, hidden_dropout=0.1)
    with pytest.raises(vm.CheckpointError, match="pass ignore_mismatched_sizes=True"):
        vm.from_pretrained(finetuned, num_labels=3)
    model.train()
    clip = ROOT / "data" / "videos" / "synthetic_motion" / "000_move_right.mp4"
    vm.classify_video(clip, model, rate=1)
    vm.embed_video(clip, model, rate=1)
    assert model.training  # a model handed in comes back in the mode it had
    with pytest.raises(ValueError, match="rate \\(the step between sampled frames\\) must be a positive integer, got 0"):
        vm.classify_video(clip, model, rate=0)
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})  # transformers' keyword
    assert model.is_gradient_checkpointing and model.is_activation_checkpointing


def test_the_conveniences_are_the_base_class_s_not_attached_from_outside():
    "Issue 28: from_pretrained, device, gradient checkpointing, ... are defined once, in the models' base class."
    from videomae_minimal.modeling import LOADERS, VideoMAEPreTrainedModel

    names = ("from_pretrained", "save_pretrained", "device", "dtype", "base_model", "get_input_embeddings",
             "num_parameters", "main_input_name", "gradient_checkpointing_enable", "gradient_checkpointing_disable",
             "is_gradient_checkpointing")
    for cls in (VideoMAEModel, VideoMAEForPreTraining, VideoMAEForVideoClassification):
        assert issubclass(cls, VideoMAEPreTrainedModel)
        assert not [n for n in names if n in vars(cls)], cls  # nothing set on the class itself
    assert all(n in vars(VideoMAEPreTrainedModel) for n in names)
    assert LOADERS == {"from_pretrained": vm.from_pretrained, "save_pretrained": vm.save_pretrained}
