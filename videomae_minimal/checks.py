"""How the notebooks print a measured difference: stable across machines. Hand-written (no notebook).

Two runs of the same float computation on two machines can differ in the last bits (other CPU kernels, other
thread counts), so a notebook that printed `3.1e-07` here could print `2.4e-07` there and fail nbval. These
helpers print the order of magnitude instead, and everything below `floor` as one bucket.
"""
from __future__ import annotations

import math

import torch


def magnitude(value: float, floor: float = 1e-6) -> str:
    "The power of ten just above `value`: 3e-05 -> '< 1e-04'; anything below `floor` -> '< 1e-06'."
    value = abs(float(value))
    if not math.isfinite(value):
        return str(value)
    if value < floor:
        return f"< {floor:.0e}"
    return f"< {10.0 ** (math.floor(math.log10(value)) + 1):.0e}"


def max_abs_diff(a, b, floor: float = 1e-6) -> str:
    "max |a - b| over two tensors (or arrays) of one shape, as `magnitude` prints it."
    a, b = torch.as_tensor(a), torch.as_tensor(b)
    if a.shape != b.shape:
        raise ValueError(f"cannot compare shapes {tuple(a.shape)} and {tuple(b.shape)}")
    return magnitude((a.double() - b.double()).abs().max().item() if a.numel() else 0.0, floor)


def vs_reference(a, b, tolerance: float, reference: str = "transformers", floor: float = 1e-6) -> str:
    "'max |diff| vs transformers: < 1e-06, tolerance 1e-05', and raise AssertionError when the difference is larger."
    worst = (torch.as_tensor(a).double() - torch.as_tensor(b).double()).abs().max().item()
    if not worst <= tolerance:
        raise AssertionError(f"max |diff| vs {reference}: {worst:.3g}, above the tolerance {tolerance:g}")
    return f"max |diff| vs {reference}: {magnitude(worst, floor)}, tolerance {tolerance:.0e}"
