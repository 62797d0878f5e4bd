"""09's and 10's graded exercises (issue 25): the instructor's answer passes the grader's trusted check, and each
wrong decision a student can make loses the points with a message that names it. The expected answers come from
transformers' own from_pretrained (09) and from the original MCG-NJU rules (10), never from the notebook; the
"try it" answers stay out of the student edition and fold away on the site."""
import json
import sys

import pytest
import torch

from conftest import ROOT
from videomae_minimal import course
from videomae_minimal import VideoMAEConfig, VideoMAEForVideoClassification
from videomae_minimal.checkpoint_formats import to_original_state_dict, to_transformers_state_dict
from videomae_minimal.checkpoints import CheckpointError, from_original_state_dict
from videomae_minimal.course import later_checks, notebooks, trusted_checks
from videomae_minimal.training import parameter_groups

sys.path.insert(0, str(ROOT / "tools"))
import build_site  # noqa: E402
import course_stats  # noqa: E402

CORE = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def verdict(grade_id, tmp_path, **names):
    "A trusted check the grader's way, without a kernel: inputs drawn, the dump run on `names`, compared here."
    check = trusted_checks.TRUSTED_CHECKS[grade_id]
    inputs, expected = trusted_checks.prepared(check)
    results, given = tmp_path / f"{grade_id}.pt", tmp_path / f"{grade_id}-inputs.pt"
    torch.save(inputs, given)
    results.unlink(missing_ok=True)
    exec(check.source(results, given), dict(names))
    return check.verdict(results, expected)


def passes_and_names_each_mistake(grade_id, tmp_path, reference, wrong: dict) -> None:
    "The reference answer passes; each wrong answer (function -> what its message must say) fails with that message."
    assert verdict(grade_id, tmp_path, **{grade_id: reference}) is None
    for answer, message in wrong.items():
        said = verdict(grade_id, tmp_path, **{grade_id: answer})
        assert said is not None and message in said, (answer.__name__, said)


# --------------------------------------------------------------------------- 09 · from_original_state_dict
def keys_and_queries_swapped(state_dict):  # the rows of qkv taken in the wrong order
    out = from_original_state_dict(state_dict)
    for name in [k for k in out if k.endswith("attention.attention.query.weight")]:
        key = name.replace(".query.", ".key.")
        out[name], out[key] = out[key], out[name]
    return out


def drops_what_it_cannot_name(state_dict):
    try:
        return from_original_state_dict(state_dict)
    except CheckpointError:
        return {}


def forgets_the_decoder(state_dict):
    return from_original_state_dict({k: v for k, v in state_dict.items() if not k.startswith("decoder.blocks.")})


def key_bias_invented(state_dict):  # VideoMAE has no key bias: an extra tensor transformers has no place for
    out = from_original_state_dict(state_dict)
    for name in [k for k in out if k.endswith("attention.attention.query.bias")]:
        out[name.replace("query.bias", "key.bias")] = torch.zeros_like(out[name])
    return out


def test_from_original_state_dict_passes_and_each_wrong_decision_is_named(tmp_path):
    passes_and_names_each_mistake("from_original_state_dict", tmp_path, from_original_state_dict, {
        keys_and_queries_swapped: "transformers' logits with your tensors differ",
        drops_what_it_cannot_name: "must raise CheckpointError naming it: it vanished",
        forgets_the_decoder: "a pre-training model: transformers' from_pretrained found no tensor for ['decoder.decoder_layers.0",
        key_bias_invented: "has no place for",
    })


def test_the_published_spelling_is_accepted_too(tmp_path):
    "transformers reads both spellings of the biases: a student who writes the published q_bias is not marked down."
    def v4(state_dict):
        return to_transformers_state_dict(from_original_state_dict(state_dict))
    assert any(k.endswith("q_bias") for k in v4(to_original_state_dict(
        VideoMAEForVideoClassification(VideoMAEConfig(**later_checks.NAME_SIZES, num_hidden_layers=1)).state_dict())))
    assert verdict("from_original_state_dict", tmp_path, from_original_state_dict=v4) is None


# ------------------------------------------------------------------------------------- 10 · parameter_groups
def decays_every_tensor(model, lr, weight_decay, layer_decay):
    groups = parameter_groups(model, lr, weight_decay, layer_decay)
    return [{**g, "weight_decay": weight_decay} for g in groups]


def one_rate_for_all(model, lr, weight_decay, layer_decay):
    return parameter_groups(model, lr, weight_decay, 1.0)


def counts_layers_from_zero(model, lr, weight_decay, layer_decay):  # block i at layer i: off by one
    groups = parameter_groups(model, lr, weight_decay, layer_decay)
    return [{**g, "lr": g["lr"] * layer_decay} if 0 < g["layer"] <= model.config.num_hidden_layers else g for g in groups]


def keeps_frozen_tensors(model, lr, weight_decay, layer_decay):
    groups = parameter_groups(model, lr, weight_decay, layer_decay)
    frozen = [p for p in model.parameters() if not p.requires_grad]
    return groups + [{"params": frozen, "lr": lr, "weight_decay": 0.0}]


def test_parameter_groups_passes_and_each_wrong_decision_is_named(tmp_path):
    passes_and_names_each_mistake("parameter_groups", tmp_path, parameter_groups, {
        decays_every_tensor: "weight decay",
        one_rate_for_all: "learning rate",
        counts_layers_from_zero: "videomae.encoder.layer.0.",
        keeps_frozen_tensors: "is frozen (requires_grad=False): it belongs to no group",
    })


def test_the_original_recipe_by_hand():
    "The grader's transcription of the original rules, on names worked out by hand (12 blocks, decay 0.75)."
    recipe = lambda name, ndim: later_checks.original_recipe(name, ndim, 12, 1.0, 0.05, 0.75)
    assert recipe("videomae.embeddings.patch_embeddings.projection.weight", 5) == (0.75 ** 13, 0.05)
    assert recipe("videomae.encoder.layer.0.attention.attention.query.bias", 1) == (0.75 ** 12, 0.0)
    assert recipe("videomae.encoder.layer.11.output.dense.weight", 2) == (0.75 ** 1, 0.05)
    assert recipe("videomae.layernorm.weight", 1) == (1.0, 0.0) and recipe("classifier.weight", 2) == (1.0, 0.05)


def test_the_new_checks_are_graded_exercises_of_09_and_10():
    found = {e.name: nb.name for nb in CORE for e in course.exercises(notebooks.read_notebook(nb), nb.name)}
    assert found["from_original_state_dict"] == "09_real_checkpoints.ipynb"
    assert found["parameter_groups"] == "10_train_tiny.ipynb"
    assert {"from_original_state_dict", "parameter_groups"} <= set(trusted_checks.TRUSTED_CHECKS)


# ------------------------------------------------ 03 · to_tubelets, deepened: the axes and the flat form are theirs
def test_to_tubelets_decisions_are_named(tmp_path):
    from videomae_minimal.patches import from_tubelets, to_tubelets

    def only_four_dimensional(tubes, grid, tubelet_size, patch_size):  # forgets the decoder's flattened form
        if tubes.ndim != 4:
            raise ValueError("expected (B, N, ts*p*p, C)")
        return from_tubelets(tubes, grid, tubelet_size, patch_size)

    def rows_and_columns_swapped(video, tubelet_size, patch_size):  # (dt, dx, dy) inside a token
        tubes = to_tubelets(video, tubelet_size, patch_size)
        b, n, _, c = tubes.shape
        return tubes.reshape(b, n, tubelet_size, patch_size, patch_size, c).transpose(2, 3).reshape(b, n, -1, c)

    def flat_form_channel_first(tubes, grid, tubelet_size, patch_size):  # unflattens (C, ts*p*p): channel slowest
        if tubes.ndim == 3:
            tubes = tubes.unflatten(-1, (-1, tubelet_size * patch_size * patch_size)).transpose(2, 3)
        return from_tubelets(tubes, grid, tubelet_size, patch_size)

    check = trusted_checks.TRUSTED_CHECKS["to_tubelets"]
    assert verdict("to_tubelets", tmp_path, to_tubelets=to_tubelets, from_tubelets=from_tubelets) is None
    said = verdict("to_tubelets", tmp_path, to_tubelets=to_tubelets, from_tubelets=only_four_dimensional)
    assert said == ("from_tubelets should also take the flattened (B, N, ts*p*p*C) form the decoder predicts; "
                    "it raised ValueError: expected (B, N, ts*p*p, C)"), said
    said = verdict("to_tubelets", tmp_path, to_tubelets=to_tubelets, from_tubelets=flat_form_channel_first)
    assert said is not None and said.endswith("flattened (B, N, ts*p*p*C) form the decoder predicts: check which "
                                              "of its axes is the channel"), said
    said = verdict("to_tubelets", tmp_path, to_tubelets=rows_and_columns_swapped, from_tubelets=from_tubelets)
    assert said is not None and "not the pixels Conv3d sees" in said, said
    assert check.dump.__name__ == "dump_tubelets"


# --------------------------------------------------------------------------------- "try it" answers
@pytest.mark.parametrize("path", CORE, ids=lambda p: p.stem)
def test_every_try_it_question_has_an_answer_hidden_from_students(path):
    nb = notebooks.read_notebook(path)
    summary = next(c for c in nb["cells"] if c["cell_type"] == "markdown" and "**Try it:**" in c["source"])
    questions = course_stats.try_it_questions(summary["source"])
    assert questions >= 2 and course_stats.try_it_answers(summary["source"]) == questions, path.name
    meta = summary.get("metadata", {}).get("nbgrader", {})
    assert meta.get("solution") and not meta.get("grade"), f"{path.name}: nbgrader needs the answers cell marked"
    student = course.student_notebook(nb, path.stem)
    shown = next(c["source"] for c in student["cells"] if "**Try it:**" in c["source"])
    answers = set(notebooks.solution_lines(summary["source"])) - {""}
    assert "YOUR ANSWER HERE" in shown and not any(line in shown for line in answers), path.name


def test_the_site_keeps_the_answers_folded_without_the_markers():
    page = build_site.for_the_page(json.loads((ROOT / "notebooks" / "05_tube_masking.ipynb").read_text()))
    summary = next("".join(c["source"]) for c in page["cells"] if "**Try it:**" in "".join(c["source"]))
    assert course_stats.ANSWERS_OPEN in summary and "</details>" in summary
    assert "BEGIN SOLUTION" not in summary and "END SOLUTION" not in summary
