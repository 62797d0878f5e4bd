"""The paper's fine-tuning recipe (notebook 10, appendices A3 and A5) against references that are not ours: torch's own
label-smoothed cross-entropy, and the formulas of timm (which the original code imports for mixup, label smoothing
and drop path) written out here."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from videomae_minimal.encoder import drop_path
from videomae_minimal.runs import mixup, soft_cross_entropy, soft_targets


@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.3])
def test_smoothed_targets_give_torchs_label_smoothed_cross_entropy(smoothing):
    g = torch.Generator().manual_seed(0)
    logits, labels = torch.randn(16, 8, generator=g) * 3, torch.randint(0, 8, (16,), generator=g)
    ours = soft_cross_entropy(logits, soft_targets(labels, 8, smoothing))
    theirs = F.cross_entropy(logits, labels, label_smoothing=smoothing)
    assert torch.allclose(ours, theirs, rtol=1e-6, atol=1e-7), (ours.item(), theirs.item())


def timm_mixup(x: torch.Tensor, labels: torch.Tensor, num_classes: int, smoothing: float, lam: float):
    "timm.data.Mixup in 'batch' mode with a given lambda: x lam + x.flip(0) (1 - lam), and mixup_target."
    off = smoothing / num_classes
    on = 1.0 - smoothing + off
    y1 = torch.full((len(labels), num_classes), off).scatter_(1, labels.view(-1, 1), on)
    y2 = torch.full((len(labels), num_classes), off).scatter_(1, labels.flip(0).view(-1, 1), on)
    return x * lam + x.flip(0) * (1.0 - lam), y1 * lam + y2 * (1.0 - lam)


def test_mixup_is_timms_batch_mixup():
    g = torch.Generator().manual_seed(1)
    pixel_values, labels = torch.randn(6, 4, 3, 8, 8, generator=g), torch.tensor([0, 3, 1, 7, 2, 5])
    mixed, targets, lam = mixup(pixel_values, soft_targets(labels, 8, 0.1), 0.8, np.random.default_rng(5))
    assert lam == np.random.default_rng(5).beta(0.8, 0.8)  # lambda ~ Beta(alpha, alpha), from the run's own stream
    expected_x, expected_y = timm_mixup(pixel_values, labels, 8, 0.1, lam)
    assert torch.allclose(mixed, expected_x, atol=1e-6) and torch.allclose(targets, expected_y, atol=1e-7)
    assert torch.allclose(targets.sum(-1), torch.ones(6))  # still a distribution over the classes


def test_drop_path_drops_whole_samples_and_scales_the_rest_by_one_over_keep():
    "timm's drop_path: each sample's branch is 0 with probability p, else x / (1 - p); so the mean is unchanged."
    torch.manual_seed(0)
    p, x = 0.25, torch.randn(1, 5, 4).expand(40_000, 5, 4)  # the same branch output for every sample
    out = drop_path(x, p, training=True)
    dropped = (out == 0).all(dim=(1, 2))
    kept = out[~dropped]
    assert torch.allclose(kept, (x[0] / (1 - p)).expand_as(kept), rtol=1e-6)  # whole samples, scaled by 1 / keep
    rate, sigma = dropped.float().mean().item(), (p * (1 - p) / len(x)) ** 0.5
    assert abs(rate - p) < 5 * sigma, (rate, p)
    assert torch.allclose(out.mean(0), x[0], atol=6 * sigma * x.abs().max().item() / (1 - p))
    assert drop_path(x, p, training=False) is x and drop_path(x, 0.0, training=True) is x  # off: the branch untouched
