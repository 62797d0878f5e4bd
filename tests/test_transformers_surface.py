"""Issue 27: the parts of transformers' surface a practitioner touches every day, run the same way on our model and
on transformers' with the same weights (the expected values are transformers' own). The module tree and parameter
names (PEFT, hooks at transformers' paths, load_state_dict of transformers' state dicts, Trainer checkpoints) are
not covered here: they need our models to present transformers' names, still to come."""
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
import transformers

import videomae_minimal as vm
from conftest import ROOT, TINY
from videomae_minimal.bundled import MOTION_CLIPS, TINY_FINETUNED
from videomae_minimal.checkpoints import from_transformers_state_dict, load_weights

transformers.logging.set_verbosity_error()
COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    "A tiny classifier saved by transformers with random weights, and the reference model itself."
    torch.manual_seed(0)
    theirs = transformers.VideoMAEForVideoClassification(transformers.VideoMAEConfig(**TINY)).eval()
    with torch.no_grad():
        for p in theirs.parameters():
            p.normal_(0, 0.3)
    folder = tmp_path_factory.mktemp("saved") / "tiny"
    theirs.save_pretrained(folder)
    return folder, theirs, torch.randn(2, TINY["num_frames"], 3, TINY["image_size"], TINY["image_size"])


def hub_cache(root, repo_id, files_by_revision: dict, subfolder: str = ""):
    "huggingface_hub's cache layout: one snapshot per revision (refs/<name> -> commit), the files under `subfolder`."
    repo = root / f"models--{repo_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True)
    for n, (revision, folder) in enumerate(files_by_revision.items()):
        commit = f"{n:040d}"
        (repo / "refs" / revision).write_text(commit)
        snapshot = repo / "snapshots" / commit / subfolder
        snapshot.mkdir(parents=True)
        for f in folder.iterdir():
            (snapshot / f.name).write_bytes(f.read_bytes())
    return root


def test_hub_keywords_mean_what_they_mean_in_transformers(saved, tmp_path):
    "cache_dir, revision, subfolder and local_files_only, through the Hub client, on a cache laid out by hand."
    folder, theirs, video = saved
    other = tmp_path / "other"
    changed = transformers.VideoMAEForVideoClassification(theirs.config).eval()  # the same sizes, other weights
    changed.save_pretrained(other)
    cache = hub_cache(tmp_path / "cache", "org/tiny", {"main": folder, "v2": other}, subfolder="weights")
    for revision in ("main", "v2"):
        options = dict(cache_dir=cache, revision=revision, subfolder="weights", local_files_only=True)
        ours = vm.from_pretrained("org/tiny", **options)
        reference = transformers.VideoMAEForVideoClassification.from_pretrained("org/tiny", **options).eval()
        with torch.no_grad():
            assert torch.allclose(ours(video).logits, reference(video).logits, atol=1e-5), revision
    with pytest.raises(vm.CheckpointError, match="org/absent: no such file or directory here; tried as a Hugging Face Hub id"):
        vm.from_pretrained("org/absent", cache_dir=cache, local_files_only=True)
    local = vm.from_pretrained(tmp_path / "cache" / "models--org--tiny" / "snapshots" / f"{0:040d}", subfolder="weights")
    assert local.config.num_labels == 5  # subfolder applies to a local folder too


def test_device_map_memory_and_remote_code_keywords(saved):
    folder, theirs, video = saved
    with torch.no_grad():
        expected = theirs(video).logits
    for options in ({"device_map": "cpu"}, {"device_map": "auto"}, {"device_map": {"": "cpu"}},
                    {"low_cpu_mem_usage": True}, {"trust_remote_code": True}):
        reference = transformers.VideoMAEForVideoClassification.from_pretrained(folder, **options)
        ours = vm.VideoMAEForVideoClassification.from_pretrained(folder, **options)
        assert ours.device == reference.device, options
        with torch.no_grad():
            assert torch.allclose(ours(video).logits, expected, atol=1e-5), options
    with pytest.raises(vm.CheckpointError, match="a map that splits the model over devices is not supported"):
        vm.from_pretrained(folder, device_map={"videomae": "cpu", "classifier": "cpu"})
    with pytest.raises(TypeError, match="from_pretrained got 'cache_directory'"):
        vm.from_pretrained(folder, cache_directory="x")


def test_output_options_from_pretrained_are_the_forward_defaults(saved):
    folder, _, video = saved
    reference = transformers.VideoMAEForVideoClassification.from_pretrained(
        folder, output_hidden_states=True, output_attentions=True, attn_implementation="eager")
    ours = vm.from_pretrained(folder, output_hidden_states=True, output_attentions=True)
    with torch.no_grad():
        theirs_out, ours_out = reference(video), ours(video)
        assert len(ours_out.hidden_states) == len(theirs_out.hidden_states) == TINY["num_hidden_layers"] + 1
        assert len(ours_out.attentions) == len(theirs_out.attentions)
        for a, b in zip(ours_out.hidden_states + ours_out.attentions, theirs_out.hidden_states + theirs_out.attentions):
            assert torch.allclose(a, b, atol=1e-5)
        assert ours(video, output_hidden_states=False).hidden_states is None  # a call's own keyword wins
    tuples = vm.from_pretrained(folder, return_dict=False)
    with torch.no_grad():
        assert isinstance(tuples(video), tuple)


@pytest.mark.parametrize("options", [{"max_shard_size": "20KB"}, {"safe_serialization": False},
                                     {"safe_serialization": False, "max_shard_size": 20_000}],
                         ids=["shards", "bin", "bin-shards"])
def test_save_pretrained_options_reload_in_both_libraries(saved, tmp_path, options):
    folder, theirs, video = saved
    ours = vm.from_pretrained(folder)
    ours.save_pretrained(tmp_path / "out")  # first one model.safetensors, then the save under test replaces it
    ours.save_pretrained(tmp_path / "out", **options)
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert ("model.safetensors" in names) == (options == {}), names  # no stale single file left to shadow the new save
    reference_files = tmp_path / "reference"
    theirs.save_pretrained(reference_files, **options)
    pattern = lambda files: {re.sub(r"\d{5}", "N", n) for n in files if "model" in n}  # shards as transformers names them
    if options.get("safe_serialization", True):  # transformers 5 writes safetensors even when asked for .bin
        assert pattern(p.name for p in reference_files.iterdir()) == pattern(names)
    else:
        assert pattern(names) <= {"pytorch_model.bin", "pytorch_model-N-of-N.bin", "pytorch_model.bin.index.json"}
    with torch.no_grad():
        expected = theirs(video).logits
        for model in (vm.from_pretrained(tmp_path / "out"),
                      transformers.VideoMAEForVideoClassification.from_pretrained(tmp_path / "out").eval()):
            assert torch.allclose(model(video).logits, expected, atol=1e-5)
    with pytest.raises(ValueError, match="max_shard_size must be a positive number of bytes"):
        ours.save_pretrained(tmp_path / "bad", max_shard_size="lots")


def test_config_spellings_and_json(saved):
    folder, theirs, video = saved
    ours = vm.VideoMAEConfig(**TINY, qv_bias=False)
    reference = transformers.VideoMAEConfig(**TINY, qv_bias=False)
    assert ours.qkv_bias is False and reference.qv_bias is False
    model_theirs = transformers.VideoMAEModel(reference).eval()
    model_ours = vm.VideoMAEModel(ours).eval()
    load_weights(model_ours, from_transformers_state_dict(model_theirs.state_dict()))
    with torch.no_grad():
        assert torch.allclose(model_ours(video).last_hidden_state, model_theirs(video).last_hidden_state, atol=1e-5)
    values = json.loads(vm.VideoMAEConfig(**TINY).to_json_string())
    again = transformers.VideoMAEConfig.from_dict(values)
    assert all(getattr(again, k) == v for k, v in TINY.items()) and again.num_labels == 5


def test_model_attributes_as_in_transformers(saved):
    folder, theirs, video = saved
    ours = vm.from_pretrained(folder)
    assert ours.main_input_name == theirs.main_input_name == "pixel_values"
    assert ours.num_parameters() == theirs.num_parameters()
    assert ours.num_parameters(exclude_embeddings=True) == theirs.num_parameters(exclude_embeddings=True)
    ours.base_model.requires_grad_(False)
    theirs.base_model.requires_grad_(False)
    assert ours.num_parameters(only_trainable=True) == theirs.num_parameters(only_trainable=True)
    with torch.no_grad():
        assert torch.allclose(ours.base_model(video).last_hidden_state, theirs.base_model(video).last_hidden_state, atol=1e-5)
        assert torch.allclose(ours.get_input_embeddings()(video), theirs.get_input_embeddings()(video), atol=1e-5)


def test_problem_type_is_filled_in_as_transformers_does(saved):
    folder, theirs, video = saved
    ours = vm.from_pretrained(folder)
    for labels, expected in ((torch.tensor([1, 3]), "single_label_classification"),
                             (torch.rand(2, 5), "multi_label_classification")):
        for model in (ours, theirs):
            model.config.problem_type = None
            with torch.no_grad():
                model(video, labels=labels)
        assert ours.config.problem_type == theirs.config.problem_type == expected


def test_embed_a_folder_resumes_and_skips_a_bad_clip(tmp_path, monkeypatch):
    "Features of a folder (one unreadable clip among them), stopped after one clip and resumed, against transformers."
    from videomae_minimal import api
    from videomae_minimal.cli import embed as cli_embed
    from videomae_minimal.cli import main

    clips = tmp_path / "clips"
    clips.mkdir()
    for source in sorted(MOTION_CLIPS.glob("*.mp4"))[:3]:
        (clips / source.name).write_bytes(source.read_bytes())
    (clips / "broken.mp4").write_bytes(b"not a video")
    calls, real = [], api.embed_video

    def stops_after_one(*args, **kwargs):
        calls.append(args[0])
        if len(calls) == 2:
            raise KeyboardInterrupt  # Ctrl-C during the second clip
        return real(*args, **kwargs)

    monkeypatch.setattr(cli_embed, "embed_video", stops_after_one)
    out = tmp_path / "features.npy"
    assert main(["embed", str(clips), "--checkpoint", str(TINY_FINETUNED), "--out", str(out)]) != 0  # interrupted
    assert not out.exists() and len(list((tmp_path / ".features.npy.parts").iterdir())) == 1
    monkeypatch.setattr(cli_embed, "embed_video", lambda *a, **k: (calls.append(a[0]), real(*a, **k))[1])
    assert main(["embed", str(clips), "--checkpoint", str(TINY_FINETUNED), "--out", str(out)]) == 0
    assert [c.name for c in calls[2:]] == ["001_move_left.mp4", "002_move_down.mp4"]  # the first reused; broken.mp4 fails before
    record = json.loads(out.with_suffix(".json").read_text())
    assert [os.path.basename(c) for c in record["clips"]] == ["000_move_right.mp4", "001_move_left.mp4", "002_move_down.mp4"]
    assert list(record["failed"]) == [str(clips / "broken.mp4")] and "VideoReadError" in record["failed"][str(clips / "broken.mp4")]
    features = np.load(out)
    reference = transformers.VideoMAEForVideoClassification.from_pretrained(TINY_FINETUNED).eval()
    ours = vm.from_pretrained(TINY_FINETUNED)
    for row, clip in zip(features, record["clips"]):
        pixel_values, _ = api.video_views(clip, ours, "single", 1)  # the tiny checkpoint's 16 consecutive frames
        with torch.no_grad():
            tokens = reference.videomae(pixel_values).last_hidden_state  # (1, N, D)
            expected = reference.fc_norm(tokens.mean(dim=1))[0]  # what transformers' head reads
        assert np.allclose(row, expected.numpy(), atol=1e-5)
    assert not (tmp_path / ".features.npy.parts").exists()


def test_embed_refuses_a_bad_output_name(tmp_path):
    result = subprocess.run([sys.executable, "-m", "videomae_minimal", "embed", str(MOTION_CLIPS), "--checkpoint",
                             str(TINY_FINETUNED), "--out", str(tmp_path / "f.csv")], capture_output=True, text=True,
                            cwd=ROOT)
    assert result.returncode == 2 and "--out" in result.stderr and ".npy or .safetensors" in result.stderr


@pytest.mark.parametrize("activation", ["gelu", "gelu_new", "gelu_pytorch_tanh", "quick_gelu", "relu", "silu"])
def test_hidden_act_variants_match_transformers(activation):
    torch.manual_seed(0)
    theirs = transformers.VideoMAEForVideoClassification(transformers.VideoMAEConfig(**TINY, hidden_act=activation)).eval()
    with torch.no_grad():
        for p in theirs.parameters():
            p.normal_(0, 0.3)
    ours = vm.VideoMAEForVideoClassification(vm.VideoMAEConfig(**TINY, hidden_act=activation)).eval()
    load_weights(ours, from_transformers_state_dict(theirs.state_dict()))
    video = torch.randn(2, TINY["num_frames"], 3, TINY["image_size"], TINY["image_size"])
    with torch.no_grad():
        assert torch.allclose(ours(video).logits, theirs(video).logits, atol=1e-5), activation


def test_every_accepted_activation_is_implemented():
    from videomae_minimal.config import HIDDEN_ACTS
    from videomae_minimal.encoder import ACTIVATIONS
    assert set(HIDDEN_ACTS) == set(ACTIVATIONS)
    with pytest.raises(ValueError, match="hidden_act must be one of"):
        vm.VideoMAEConfig(hidden_act="mish")


def test_num_labels_zero_gives_the_pooled_features(saved):
    folder, theirs, video = saved
    reference = transformers.VideoMAEForVideoClassification.from_pretrained(folder, num_labels=0,
                                                                            ignore_mismatched_sizes=True).eval()
    ours = vm.VideoMAEForVideoClassification.from_pretrained(folder, num_labels=0, ignore_mismatched_sizes=True)
    with torch.no_grad():
        expected = reference(video).logits
        got = ours(video).logits
    assert tuple(got.shape) == tuple(expected.shape) == (2, TINY["hidden_size"])
    assert torch.allclose(got, expected, atol=1e-5)


def test_the_position_tables_stay_exact_through_dtype_round_trips(saved):
    folder, theirs, video = saved
    ours = vm.from_pretrained(folder)
    ours.bfloat16().float()
    theirs_again = transformers.VideoMAEForVideoClassification.from_pretrained(folder).eval().bfloat16().float()
    assert torch.equal(ours.videomae.embeddings.position_table, vm.sinusoid_table(ours.config.num_patches, TINY["hidden_size"]))
    with torch.no_grad():
        assert torch.allclose(ours(video).logits, theirs_again(video).logits, atol=1e-5)
    pretraining = vm.VideoMAEForPreTraining(vm.VideoMAEConfig(**TINY)).half().float()
    assert torch.equal(pretraining.decoder_position_table,
                       vm.sinusoid_table(pretraining.config.num_patches, TINY["decoder_hidden_size"]))


def test_a_non_square_image_size_is_refused_with_the_reason():
    with pytest.raises(ValueError, match=r"image_size \[224, 320\]: a non-square image_size is not supported"):
        vm.VideoMAEConfig(image_size=(224, 320))
    assert vm.VideoMAEConfig(image_size=[224, 224]).image_size == 224


def test_compare_with_transformers_finds_a_changed_weight(saved):
    "The public comparison (issue 28): equal weights agree with transformers to float rounding, one changed bias shows."
    folder, theirs, video = saved
    ours = vm.from_pretrained(folder)
    assert vm.compare_with_transformers(ours, video)["logits"] < 1e-5  # via a copy saved here
    assert vm.compare_with_transformers(ours, video, source=folder)["logits"] < 1e-5  # transformers reads the folder
    with torch.no_grad():
        ours.classifier.bias[2] += 0.25
    assert vm.compare_with_transformers(ours, video, source=folder)["logits"] == pytest.approx(0.25, abs=1e-5)
    pretraining = vm.VideoMAEForPreTraining(vm.VideoMAEConfig(**TINY)).eval()
    diffs = vm.compare_with_transformers(pretraining, video)
    assert set(diffs) == {"logits", "loss"} and max(diffs.values()) < 1e-5
