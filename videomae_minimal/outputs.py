"""The models' outputs, as transformers shapes them. Hand-written (no notebook): plain data under the model steps.

An output is a dict of its fields that are not None, in declaration order, with attribute access as well:
`out.logits`, `out["logits"]`, `out[0]` (the first field that is set, as transformers' ModelOutput indexes) and
`out.to_tuple()`. Fields left unset read as None. Like transformers', `type(out)(mapping)` (a dict or a list of
(name, value) pairs) builds an output from its fields: accelerate's and Trainer's mixed-precision wrappers rely on
it. Each output class is a pytree node, so `torch.export` and `torch.compile` see through it, and being a dict it is
one of the outputs `torch.jit.trace(strict=False)` accepts.
"""
from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.utils._pytree as pytree


def _as_mapping(value) -> dict | None:
    "A dict, or a list/tuple of (name, value) pairs, read as the fields to set; anything else (a tensor): None."
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, (list, tuple)) and value and all(
            isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str) for item in value):
        return dict(value)
    return None


class ModelOutput(dict):
    "Base of the output classes: subclasses list their fields in order in `fields`."

    fields: tuple[str, ...] = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        pytree.register_pytree_node(
            cls, lambda out: (list(out.values()), list(out.keys())),
            lambda values, keys: cls(**dict(zip(keys, values))),
            serialized_type_name=f"{cls.__module__}.{cls.__qualname__}")

    def __init__(self, *args, **kwargs):
        if len(args) == 1 and not kwargs and _as_mapping(args[0]) is not None:  # type(out)(mapping), as transformers
            args, kwargs = (), _as_mapping(args[0])  # allows: mixed-precision wrappers rebuild an output that way
        if len(args) > len(self.fields):
            raise TypeError(f"{type(self).__name__} takes at most {len(self.fields)} fields, got {len(args)}")
        values = {**dict(zip(self.fields, args)), **kwargs}
        unknown = sorted(set(values) - set(self.fields))
        if unknown:
            raise TypeError(f"{type(self).__name__} has no field {unknown[0]!r}; its fields are {', '.join(self.fields)}")
        super().__init__((name, values[name]) for name in self.fields if values.get(name) is not None)

    def __getattr__(self, name):
        if name in type(self).fields:
            return self.get(name)
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    def __setattr__(self, name, value):  # out.loss = x: the field, as transformers' outputs do
        if name in type(self).fields:
            self[name] = value
        else:
            super().__setattr__(name, value)

    def __setitem__(self, key, value):
        if key not in type(self).fields:
            raise KeyError(f"{type(self).__name__} has no field {key!r}; its fields are {', '.join(self.fields)}")
        if value is None:
            self.pop(key, None)
            return
        super().__setitem__(key, value)
        order = [name for name in self.fields if name in self]  # keep the declaration order when a field is added
        for name in order:
            super().__setitem__(name, super().pop(name))

    def __getitem__(self, key):
        if isinstance(key, (int, slice)):
            return self.to_tuple()[key]
        return super().__getitem__(key)

    def to_tuple(self) -> tuple:
        "The fields that are set, in order: what `return_dict=False` returns."
        return tuple(self.values())

    def returned(self, return_dict: bool | None):
        "What a model's forward returns: this output, or its tuple for return_dict=False (and, by default, under torch.jit.trace)."
        as_tuple = return_dict is False or (return_dict is None and torch.jit.is_tracing())  # tracing takes tuples only
        return self.to_tuple() if as_tuple else self

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={tuple(v.shape) if hasattr(v, 'shape') else f'({len(v)} tensors)'}" for k, v in self.items())
        return f"{type(self).__name__}({shown})"
