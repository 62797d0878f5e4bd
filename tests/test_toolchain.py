"""Issue 27, the toolchain half: what users run on a VideoMAE besides calling it -- PEFT's LoRA, Trainer (fp32 and
bf16), accelerate (bf16, init_empty_weights + load_checkpoint_and_dispatch), forward hooks at transformers' module
paths and load_state_dict of transformers' state dicts -- run verbatim on our model and on transformers' with the same
weights, and compared. All of it rests on our modules presenting transformers' module tree and tensor names
(`videomae.encoder.layer.N.attention.attention.query`, ...), so that `ours.state_dict()` has transformers' v5 keys.

Facts of the installed libraries these tests rely on (transformers 5.23, peft 0.21, accelerate 1.16):
- Trainer._save (trainer.py 4143-4160) calls `save_pretrained` only on a PreTrainedModel or PeftModel; any other
  model gets its state dict written with safetensors.torch.save_file as model.safetensors (the in-memory names,
  `query.bias`) and no config.json. It then calls `processing_class.save_pretrained(output_dir)` (4166-4167), for a
  checkpoint-N folder and for `trainer.save_model(dir)` alike: passing `processing_class=model.config` writes
  config.json there, with either library's model (it needs VideoMAEConfig.save_pretrained, transformers' name).
- transformers' own save_pretrained writes the legacy `attention.attention.q_bias` / `v_bias` on disk (its
  conversion mapping reverses the load-time rename), so a file it wrote does not match any in-memory state dict:
  accelerate's load_checkpoint_in_model skips those tensors, for transformers' own class as for ours.
"""
import math

import pytest
import safetensors.torch
import torch
import transformers
from safetensors import safe_open

import videomae_minimal as vm
from conftest import TINY

transformers.logging.set_verbosity_error()
CLASSIFIER = "VideoMAEForVideoClassification"
LR = 1e-3


def pair(model_class: str = CLASSIFIER, seed: int = 0, **overrides):
    """transformers' model with its own initialisation, a little noise on every tensor (no LayerNorm left at exactly
    1 and 0), and ours with the same weights, through load_state_dict(strict=True) of transformers' state dict."""
    torch.manual_seed(seed)
    theirs = getattr(transformers, model_class)(transformers.VideoMAEConfig(**TINY, **overrides))
    with torch.no_grad():
        for p in theirs.parameters():
            p.add_(0.05 * torch.randn_like(p))
    ours = getattr(vm, model_class)(vm.VideoMAEConfig(**TINY, **overrides))
    ours.load_state_dict(theirs.state_dict(), strict=True)
    return ours, theirs


def clips(n: int = 8, seed: int = 1) -> list[dict]:
    "A tiny labelled data set of random videos, as Trainer takes it: one dict per example."
    g = torch.Generator().manual_seed(seed)
    shape = (TINY["num_frames"], 3, TINY["image_size"], TINY["image_size"])
    return [{"pixel_values": torch.randn(shape, generator=g), "labels": i % TINY["num_labels"]} for i in range(n)]


def batches(n: int = 3, batch_size: int = 4, seed: int = 2):
    g = torch.Generator().manual_seed(seed)
    shape = (batch_size, TINY["num_frames"], 3, TINY["image_size"], TINY["image_size"])
    return [(torch.randn(shape, generator=g), torch.randint(0, TINY["num_labels"], (batch_size,), generator=g))
            for _ in range(n)]


def video(batch_size: int = 2, seed: int = 3) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch_size, TINY["num_frames"], 3, TINY["image_size"], TINY["image_size"], generator=g)


@torch.no_grad()
def logits_of(model, pixel_values: torch.Tensor) -> torch.Tensor:
    was_training = model.training
    out = model.eval()(pixel_values=pixel_values).logits.float()
    model.train(was_training)
    return out


def fp32_logits(model, pixel_values: torch.Tensor) -> torch.Tensor:
    """The logits of `model`'s weights in a fresh model of its class: what a reload gives. A model that Trainer or
    accelerate prepared for bf16 keeps autocast wrapped around its own forward after training."""
    fresh = type(model)(model.config)
    fresh.load_state_dict(model.state_dict(), strict=True)
    return logits_of(fresh, pixel_values)


def float_state(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().float().clone() for k, v in model.state_dict().items()}


def recording_dtypes(model, path: str = "videomae.encoder.layer.1.attention.attention.query"):
    "A forward hook at `path` noting the dtype of each output: bfloat16 under bf16 autocast."
    dtypes = []
    handle = model.get_submodule(path).register_forward_hook(lambda module, args, out: dtypes.append(out.dtype))
    return dtypes, handle


# ---------------------------------------------------------------------------------------------------------------------
# names: load_state_dict, hooks


FORWARDS = {
    CLASSIFIER: lambda model, x, mask: model(pixel_values=x).logits,
    "VideoMAEForPreTraining": lambda model, x, mask: model(pixel_values=x, bool_masked_pos=mask).logits,
    "VideoMAEModel": lambda model, x, mask: model(pixel_values=x).last_hidden_state,
}
CASES = [(CLASSIFIER, {}), (CLASSIFIER, {"use_mean_pooling": False}), ("VideoMAEForPreTraining", {}),
         ("VideoMAEModel", {}), ("VideoMAEModel", {"use_mean_pooling": False})]


def masked(batch_size: int = 2) -> torch.Tensor:
    grid = (TINY["num_frames"] // TINY["tubelet_size"], TINY["image_size"] // TINY["patch_size"],
            TINY["image_size"] // TINY["patch_size"])
    return vm.tube_mask(batch_size, grid, 0.75, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("model_class, overrides", CASES, ids=lambda v: v if isinstance(v, str) else
                         ",".join(f"{k}={w}" for k, w in v.items()) or "default")
def test_load_state_dict_of_transformers_state_dict_is_strict_and_exact(model_class, overrides):
    torch.manual_seed(0)
    theirs = getattr(transformers, model_class)(transformers.VideoMAEConfig(**TINY, **overrides)).eval()
    with torch.no_grad():
        for p in theirs.parameters():
            p.add_(0.05 * torch.randn_like(p))
    x, mask = video(), masked()
    with torch.no_grad():
        expected = FORWARDS[model_class](theirs, x, mask)
    ours = getattr(vm, model_class)(vm.VideoMAEConfig(**TINY, **overrides)).eval()
    theirs_shapes = {k: tuple(v.shape) for k, v in theirs.state_dict().items()}
    assert {k: tuple(v.shape) for k, v in ours.state_dict().items()} == theirs_shapes
    ours.load_state_dict(theirs.state_dict(), strict=True)
    with torch.no_grad():
        assert torch.allclose(FORWARDS[model_class](ours, x, mask), expected, atol=1e-5)
    # and back: transformers takes ours as strictly
    again = getattr(transformers, model_class)(transformers.VideoMAEConfig(**TINY, **overrides)).eval()
    again.load_state_dict(ours.state_dict(), strict=True)
    with torch.no_grad():
        assert torch.allclose(FORWARDS[model_class](again, x, mask), expected, atol=1e-5)


HOOKED = [(CLASSIFIER, "videomae.encoder.layer.1.attention.attention.query"),
          (CLASSIFIER, "videomae.encoder.layer.0.attention.attention.value"),
          (CLASSIFIER, "videomae.encoder.layer.1.attention.output.dense"),
          (CLASSIFIER, "videomae.encoder.layer.0.intermediate.dense"),
          (CLASSIFIER, "videomae.encoder.layer.1.output.dense"),
          (CLASSIFIER, "videomae.encoder.layer.0.layernorm_before"),
          (CLASSIFIER, "videomae.embeddings.patch_embeddings.projection"),
          (CLASSIFIER, "fc_norm"),
          ("VideoMAEForPreTraining", "videomae.encoder.layer.1.attention.attention.query"),
          ("VideoMAEForPreTraining", "encoder_to_decoder"),
          ("VideoMAEForPreTraining", "decoder.decoder_layers.1.attention.attention.query"),
          ("VideoMAEForPreTraining", "decoder.norm")]


@pytest.mark.parametrize("model_class, path", HOOKED, ids=[f"{c.removeprefix('VideoMAEFor')}:{p}" for c, p in HOOKED])
def test_a_forward_hook_at_transformers_path_sees_the_same_tensor(model_class, path):
    x, mask = video(), masked()
    seen = {}
    ours, theirs = pair(model_class)
    for name, model in (("theirs", theirs), ("ours", ours)):
        module = model.eval().get_submodule(path)
        handle = module.register_forward_hook(lambda m, args, out, name=name: seen.__setitem__(name, out))
        with torch.no_grad():
            FORWARDS[model_class](model, x, mask)
        handle.remove()
    assert seen["ours"].shape == seen["theirs"].shape, path
    assert torch.allclose(seen["ours"], seen["theirs"], atol=1e-5), path


# ---------------------------------------------------------------------------------------------------------------------
# PEFT


def lora_config():
    from peft import LoraConfig
    return LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=["query", "value"],
                      modules_to_save=["classifier"])


def test_peft_lora_on_query_and_value_trains_merges_saves_and_reloads_as_transformers(tmp_path):
    from peft import PeftModel, get_peft_model, get_peft_model_state_dict, set_peft_model_state_dict

    ours, theirs = pair()
    initial = {k: v.clone() for k, v in theirs.state_dict().items()}  # the base both adapters are trained on
    x = video()
    peft_theirs = get_peft_model(theirs, lora_config())
    peft_ours = get_peft_model(ours, lora_config())
    trainable = lambda model: sorted(n for n, p in model.named_parameters() if p.requires_grad)
    assert trainable(peft_ours) == trainable(peft_theirs)
    assert any(".attention.attention.query.lora_A." in n for n in trainable(peft_ours))
    assert not any(".attention.attention.key." in n for n in trainable(peft_ours))
    assert peft_ours.get_nb_trainable_parameters() == peft_theirs.get_nb_trainable_parameters()
    set_peft_model_state_dict(peft_ours, get_peft_model_state_dict(peft_theirs))  # the same LoRA initialisation
    assert torch.allclose(logits_of(peft_ours, x), logits_of(peft_theirs, x), atol=1e-5)

    losses = {}
    for name, model in (("theirs", peft_theirs), ("ours", peft_ours)):
        model.train()
        optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
        losses[name] = []
        for pixel_values, labels in batches():
            out = model(pixel_values=pixel_values, labels=labels)
            out.loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            losses[name].append(out.loss.item())
    assert losses["ours"] == pytest.approx(losses["theirs"], abs=1e-5)
    expected = logits_of(peft_theirs, x)  # after training
    assert torch.allclose(logits_of(peft_ours, x), expected, atol=1e-5)
    lora_b = get_peft_model_state_dict(peft_ours)
    assert any("lora_B" in k and v.abs().sum() > 0 for k, v in lora_b.items())  # the adapters really trained

    # the adapters, saved and reloaded by PEFT; each library's adapter onto the other's base
    peft_ours.save_pretrained(tmp_path / "adapter_ours")
    peft_theirs.save_pretrained(tmp_path / "adapter_theirs")
    for adapter in ("adapter_ours", "adapter_theirs"):
        base_ours = vm.VideoMAEForVideoClassification(vm.VideoMAEConfig(**TINY))
        base_ours.load_state_dict(initial, strict=True)
        base_theirs = transformers.VideoMAEForVideoClassification(transformers.VideoMAEConfig(**TINY))
        base_theirs.load_state_dict(initial, strict=True)
        for base in (base_ours, base_theirs):
            reloaded = PeftModel.from_pretrained(base, tmp_path / adapter)
            assert torch.allclose(logits_of(reloaded, x), expected, atol=1e-5), (adapter, type(base).__module__)

    # merged into the weights: the plain model class again, transformers' names, the same outputs
    merged_theirs = peft_theirs.merge_and_unload()
    merged_ours = peft_ours.merge_and_unload()
    assert type(merged_ours) is vm.VideoMAEForVideoClassification
    assert sorted(merged_ours.state_dict()) == sorted(merged_theirs.state_dict()) == sorted(initial)
    assert torch.allclose(logits_of(merged_ours, x), expected, atol=1e-5)
    assert torch.allclose(logits_of(merged_theirs, x), expected, atol=1e-5)
    merged_ours.save_pretrained(tmp_path / "merged_ours")
    merged_theirs.save_pretrained(tmp_path / "merged_theirs")
    for folder in ("merged_ours", "merged_theirs"):
        for model in (vm.from_pretrained(tmp_path / folder),
                      vm.VideoMAEForVideoClassification.from_pretrained(tmp_path / folder),
                      transformers.VideoMAEForVideoClassification.from_pretrained(tmp_path / folder)):
            assert torch.allclose(logits_of(model, x), expected, atol=1e-5), (folder, type(model).__module__)


# ---------------------------------------------------------------------------------------------------------------------
# Trainer


def run_trainer(model, output_dir, bf16: bool = False, max_steps: int = 3, resume=None, lr_scheduler_type="linear",
                **trainer_options):
    "A user's Trainer run, verbatim: the tiny data set, a checkpoint at the last step, then save_model."
    args = transformers.TrainingArguments(
        str(output_dir), use_cpu=True, bf16=bf16, max_steps=max_steps, per_device_train_batch_size=4,
        learning_rate=LR, lr_scheduler_type=lr_scheduler_type, report_to=[], logging_steps=1, save_strategy="steps",
        save_steps=max_steps, seed=0, disable_tqdm=True)
    trainer = transformers.Trainer(model=model, args=args, train_dataset=clips(), **trainer_options)
    trainer.train(resume_from_checkpoint=resume)
    trainer.save_model(str(output_dir / "final"))
    return trainer, [h["loss"] for h in trainer.state.log_history if "loss" in h]


def both_loaders(folder, **options):
    "The folder through both libraries' from_pretrained, in float32."
    return {"ours": vm.VideoMAEForVideoClassification.from_pretrained(folder, **options.get("ours", {})),
            "ours (package)": vm.from_pretrained(folder, **options.get("ours", {})),
            "transformers": transformers.VideoMAEForVideoClassification.from_pretrained(
                folder, **options.get("theirs", {}))}


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_trainer_trains_like_transformers_and_its_folders_reload_in_both_libraries(tmp_path, precision):
    """Trainer with `processing_class=model.config`: Trainer._save writes config.json beside the weights it writes
    for checkpoint-N and for save_model(dir) (trainer.py 4166-4167), whatever the model's class."""
    bf16 = precision == "bf16"
    ours, theirs = pair()
    initial = float_state(theirs)
    x = video()
    results = {}
    for name, model in (("theirs", theirs), ("ours", ours)):
        dtypes, handle = recording_dtypes(model)
        trainer, losses = run_trainer(model, tmp_path / name, bf16=bf16, processing_class=model.config)
        handle.remove()
        assert trainer.label_names == ["labels"], name  # found in forward's signature, as for transformers' class
        assert len(losses) == 3 and all(math.isfinite(loss) for loss in losses), name
        assert set(dtypes) == {torch.bfloat16 if bf16 else torch.float32}, (name, dtypes)  # accelerate's autocast
        assert trainer.model is model and next(model.parameters()).dtype == torch.float32  # fp32 master weights
        results[name] = dict(losses=losses, state=float_state(model), logits=fp32_logits(model, x))

    tight = not bf16
    assert results["ours"]["losses"] == pytest.approx(results["theirs"]["losses"], abs=1e-5 if tight else 5e-3)
    changes, differences = [], []
    for k, v in results["theirs"]["state"].items():
        changes.append((v - initial[k]).abs().mean())
        differences.append((results["ours"]["state"][k] - v).abs().mean())
        if tight:
            assert torch.allclose(results["ours"]["state"][k], v, atol=5e-5), k
    if not tight:  # bf16: the two runs round differently; they must still agree far better than training moved them
        assert sum(differences) < 0.1 * sum(changes)
    assert torch.allclose(results["ours"]["logits"], results["theirs"]["logits"], atol=1e-5 if tight else 2e-2)

    for name in ("theirs", "ours"):
        for folder in (tmp_path / name / "checkpoint-3", tmp_path / name / "final"):
            files = {p.name for p in folder.iterdir()}
            assert {"config.json", "model.safetensors"} <= files, (name, folder.name, sorted(files))
            for loader, model in both_loaders(folder).items():
                assert torch.allclose(logits_of(model, x), results[name]["logits"], atol=1e-5), \
                    (name, folder.name, loader)


def test_trainer_folders_without_config_reload_with_config_and_resume(tmp_path):
    """Verbatim Trainer code, no processing_class: Trainer._save writes only the state dict for a model that is not a
    PreTrainedModel (trainer.py 4146-4158), in the names it has in memory. Both libraries read that file given the
    config, and Trainer's resume (load_state_dict(strict=False), trainer.py 3686-3695) restores every tensor: the run
    resumed from checkpoint-2 ends where transformers' uninterrupted run ends. (transformers' own resume is not the
    reference: its checkpoint holds q_bias / v_bias, which that strict=False load skips, with a warning.)"""
    ours, theirs = pair()
    initial = {k: v.clone() for k, v in theirs.state_dict().items()}
    x = video()
    run_trainer(ours, tmp_path / "ours", max_steps=2, lr_scheduler_type="constant")
    checkpoint = tmp_path / "ours" / "checkpoint-2"
    with safe_open(checkpoint / "model.safetensors", "pt") as f:
        assert set(f.keys()) == set(theirs.state_dict())  # Trainer wrote our names: transformers' in-memory names
    expected = fp32_logits(ours, x)
    for folder in (checkpoint, tmp_path / "ours" / "final"):
        loaded = both_loaders(folder, ours={"config": vm.VideoMAEConfig(**TINY)},
                              theirs={"config": transformers.VideoMAEConfig(**TINY)})
        for loader, model in loaded.items():
            assert torch.allclose(logits_of(model, x), expected, atol=1e-5), (folder.name, loader)

    run_trainer(theirs, tmp_path / "theirs", max_steps=3, lr_scheduler_type="constant")  # uninterrupted
    torch.manual_seed(5)
    resumed = vm.VideoMAEForVideoClassification(vm.VideoMAEConfig(**TINY))  # other weights: all must come back
    assert not torch.allclose(resumed.classifier.weight, initial["classifier.weight"])
    run_trainer(resumed, tmp_path / "ours", max_steps=3, lr_scheduler_type="constant", resume=str(checkpoint))
    for k, v in float_state(theirs).items():
        assert torch.allclose(resumed.state_dict()[k], v, atol=5e-5), k


# ---------------------------------------------------------------------------------------------------------------------
# accelerate


@pytest.fixture
def fresh_accelerator():
    """accelerate keeps one AcceleratorState per process and refuses another precision once it is set: each Accelerator
    here starts from a clean state, and the test leaves none behind (TrainingArguments resets it the same way,
    training_args.py 1872)."""
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    def make(**options):
        AcceleratorState._reset_state(reset_partial_state=True)
        return Accelerator(**options)

    yield make
    AcceleratorState._reset_state(reset_partial_state=True)


def test_accelerate_bf16_training_matches_transformers_and_save_model_reloads(tmp_path, fresh_accelerator):
    ours, theirs = pair()
    initial = float_state(theirs)
    x = video()
    results = {}
    for name, model in (("theirs", theirs), ("ours", ours)):
        accelerator = fresh_accelerator(mixed_precision="bf16", cpu=True)
        optimizer = torch.optim.AdamW(model.parameters(), lr=LR)
        prepared, optimizer = accelerator.prepare(model, optimizer)
        prepared.train()
        dtypes, handle = recording_dtypes(accelerator.unwrap_model(prepared))
        losses = []
        for pixel_values, labels in batches():
            out = prepared(pixel_values=pixel_values, labels=labels)
            assert out.logits.dtype == torch.float32, name  # convert_outputs_to_fp32 rebuilt the output: type(out)(...)
            accelerator.backward(out.loss)
            optimizer.step()
            optimizer.zero_grad()
            losses.append(out.loss.item())
        handle.remove()
        assert set(dtypes) == {torch.bfloat16}, (name, dtypes)
        unwrapped = accelerator.unwrap_model(prepared)
        accelerator.save_model(unwrapped, tmp_path / name)  # model.safetensors, the in-memory names, no config
        results[name] = dict(losses=losses, state=float_state(unwrapped), logits=fp32_logits(unwrapped, x))
    assert results["ours"]["losses"] == pytest.approx(results["theirs"]["losses"], abs=5e-3)
    changes = sum((v - initial[k]).abs().mean() for k, v in results["theirs"]["state"].items())
    differences = sum((results["ours"]["state"][k] - v).abs().mean() for k, v in results["theirs"]["state"].items())
    assert differences < 0.1 * changes
    assert torch.allclose(results["ours"]["logits"], results["theirs"]["logits"], atol=2e-2)
    for name in ("theirs", "ours"):
        loaded = both_loaders(tmp_path / name, ours={"config": vm.VideoMAEConfig(**TINY)},
                              theirs={"config": transformers.VideoMAEConfig(**TINY)})
        for loader, model in loaded.items():
            assert torch.allclose(logits_of(model, x), results[name]["logits"], atol=1e-5), (name, loader)


def empty(library, model_class: str = CLASSIFIER):
    from accelerate import init_empty_weights
    with init_empty_weights():
        model = getattr(library, model_class)(library.VideoMAEConfig(**TINY))
    assert all(p.is_meta for p in model.parameters())
    return model


@pytest.mark.parametrize("device_map", ["auto", {"": "cpu"}], ids=["auto", "cpu"])
def test_init_empty_weights_and_load_checkpoint_and_dispatch_of_transformers_weights(tmp_path, device_map):
    "The weights file transformers' in-memory model gives (what Trainer and Accelerator.save_model write)."
    from accelerate import load_checkpoint_and_dispatch
    _, theirs = pair()
    x = video()
    expected = logits_of(theirs, x)
    path = tmp_path / "model.safetensors"
    safetensors.torch.save_file(theirs.state_dict(), str(path), metadata={"format": "pt"})
    for library in (transformers, vm):
        model = load_checkpoint_and_dispatch(empty(library), str(path), device_map=device_map)
        assert not any(p.is_meta for p in model.parameters()), library.__name__
        assert torch.allclose(logits_of(model, x), expected, atol=1e-5), library.__name__


def test_load_checkpoint_of_transformers_save_pretrained_file_behaves_as_for_transformers_class(tmp_path):
    """transformers 5.23's save_pretrained writes `q_bias` / `v_bias` on disk, not the `query.bias` / `value.bias` its
    modules hold: accelerate loads every other tensor and skips those, leaving them on the meta device -- in
    transformers' own class as in ours (a file that our names cannot fix; transformers' from_pretrained, which renames
    them, is the way to read it). The rest of the file must land exactly as in transformers' class."""
    from accelerate import load_checkpoint_and_dispatch
    from accelerate.utils import load_checkpoint_in_model
    _, theirs = pair()
    theirs.save_pretrained(tmp_path / "saved")
    path = tmp_path / "saved" / "model.safetensors"
    with safe_open(path, "pt") as f:
        on_disk = set(f.keys())
    skipped = {k for k in theirs.state_dict()
               if k.endswith(("attention.attention.query.bias", "attention.attention.value.bias"))}
    assert skipped and on_disk == (set(theirs.state_dict()) - skipped) | {
        k.replace("query.bias", "q_bias").replace("value.bias", "v_bias") for k in skipped}
    left, loaded, raised = {}, {}, {}
    for library in (transformers, vm):
        model = empty(library)
        load_checkpoint_in_model(model, str(path), device_map={"": "cpu"})
        left[library.__name__] = {n for n, p in model.named_parameters() if p.is_meta}
        loaded[library.__name__] = {n: p.detach().clone() for n, p in model.named_parameters() if not p.is_meta}
        with pytest.raises(Exception) as error:  # dispatching moves the meta tensors left: torch refuses
            load_checkpoint_and_dispatch(empty(library), str(path), device_map={"": "cpu"})
        raised[library.__name__] = error.type
    assert left["videomae_minimal"] == left["transformers"] == skipped
    assert raised["videomae_minimal"] is raised["transformers"]
    assert loaded["videomae_minimal"].keys() == loaded["transformers"].keys()
    for k, v in loaded["transformers"].items():
        assert torch.equal(loaded["videomae_minimal"][k], v), k
