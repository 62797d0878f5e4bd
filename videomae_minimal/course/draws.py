"""Inputs a trusted check draws while it grades. Written by hand (no notebook)."""
from __future__ import annotations

__all__ = ["fresh_seed"]


def fresh_seed() -> int:
    "A seed drawn while grading, from the operating system: inputs a student's code cannot have seen before."
    import secrets

    return secrets.randbits(62)
