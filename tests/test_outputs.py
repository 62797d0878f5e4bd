"""Our ModelOutput against transformers' own, operation by operation: what tools written for transformers do to an
output (rebuild it from a mapping, as accelerate's and Trainer's mixed-precision wrappers do; dict(); pickle; pytree)
must give the same fields, in the same order, of the same kinds."""
import pickle

import pytest
import torch
import torch.utils._pytree as pytree
from transformers.modeling_outputs import ImageClassifierOutput

from videomae_minimal.classifier import VideoClassificationOutput

OPERATIONS = {
    "type(out)(mapping)": lambda out: type(out)(dict(out)),
    "type(out)(pairs)": lambda out: type(out)(list(out.items())),
    "type(out)(tensor)": lambda out: type(out)(out["logits"]),
    "dict(out)": dict,
    "pickle": lambda out: pickle.loads(pickle.dumps(out)),
    "pytree": lambda out: pytree.tree_unflatten(*pytree.tree_flatten(out)),
    "to_tuple": lambda out: dict(enumerate(out.to_tuple())),
    "out[0]": lambda out: {"first": out[0]},
}


def described(value) -> object:
    "What a comparison needs to know of a result: its kind, its fields in order, and each field's kind and values."
    if isinstance(value, torch.Tensor):
        return ("tensor", tuple(value.shape), value.tolist())
    return (type(value).__name__ if not isinstance(value, dict) or type(value) is dict else "output",
            [(k, described(v)) for k, v in value.items()])


@pytest.mark.parametrize("operation", OPERATIONS)
@pytest.mark.parametrize("fields", [("logits",), ("loss", "logits")])
def test_an_output_behaves_as_transformers_output(operation, fields):
    values = {"loss": torch.tensor(0.5), "logits": torch.arange(6.0).reshape(2, 3)}
    ours = VideoClassificationOutput(**{f: values[f] for f in fields})
    theirs = ImageClassifierOutput(**{f: values[f] for f in fields})
    assert described(OPERATIONS[operation](ours)) == described(OPERATIONS[operation](theirs))


def test_a_mixed_precision_wrapper_keeps_the_loss_a_tensor():
    "accelerate's convert_outputs_to_fp32 rebuilds the output with type(out)(mapping): the loss stays a tensor."
    out = VideoClassificationOutput(loss=torch.tensor(0.25, dtype=torch.bfloat16),
                                    logits=torch.ones(2, 3, dtype=torch.bfloat16))
    rebuilt = type(out)({k: v.float() for k, v in out.items()})
    assert rebuilt.loss.dtype == torch.float32 and rebuilt.loss.item() == 0.25 and rebuilt.logits.shape == (2, 3)
    assert (rebuilt.loss / 2).item() == 0.125  # Trainer's "loss / gradient_accumulation_steps"
