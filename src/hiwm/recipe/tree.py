"""Typed config trees as plain dicts and back: nested dataclasses, checked field by field.

    as_dict(cfg)                        -> {"operator": {"branches": 1, ...}, "policy": {"type": "diffusion", ...}}
    build(RunConfig, {"operator": {"branches": 4}})  -> RunConfig with that one change
    merge(a, b)                         -> b's values over a's, section by section
    set_dotted(d, "finetune.lr", 5e-4)  -> d with that one value set

A field whose type is a registered config family (``POLYMORPHIC``: the policy, the world model) is read
through its registry by its ``type`` key. An unknown key, a wrong type or a bad value is a one-line
HiwmError naming the setting.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any, Callable

from hiwm.errors import HiwmError

# A config base class -> (its registry's lookup of a subclass by ``type``, fields the recipe never sets)
POLYMORPHIC: dict[type, tuple[Callable[[str], type], tuple[str, ...]]] = {}


def register_family(base: type, lookup: Callable[[str], type], not_settings: tuple[str, ...] = ()) -> None:
    """Declare that fields typed ``base`` hold a subclass chosen by their ``type`` key."""
    POLYMORPHIC[base] = (lookup, not_settings)


def _family(cls: type) -> tuple[Callable[[str], type], tuple[str, ...]] | None:
    for base, entry in POLYMORPHIC.items():
        if isinstance(cls, type) and issubclass(cls, base):
            return entry
    return None


def settings(cls: type) -> dict[str, dataclasses.Field]:
    """The fields of a config class that the recipe sets (ClassVars and task-given fields left out)."""
    fam = _family(cls)
    skip = fam[1] if fam else ()
    return {f.name: f for f in dataclasses.fields(cls) if f.name not in skip}


def hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def as_dict(cfg) -> dict:
    """A config tree -> JSON-safe dict (tuples as lists)."""
    out = {}
    for name in settings(type(cfg)):
        v = getattr(cfg, name)
        out[name] = as_dict(v) if dataclasses.is_dataclass(v) else _plain(v)
    return out


def _plain(v):
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    return v


def merge(base: dict, over: dict) -> dict:
    """``over``'s values on ``base``'s, recursively. A family section (with ``type``) that changes type keeps only
    the settings every member of the family has (the policy's inputs, its frame): another backbone or world-model
    kind starts from its own defaults for the rest, whatever values the old type's section held."""
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            old = out[k]
            if "type" in v and v["type"] != old.get("type", v["type"]):
                old = {key: x for key, x in old.items() if key in _settings_of_type(v["type"])}
            out[k] = merge(old, v)
        else:
            out[k] = v
    return out


def _settings_of_type(name: str) -> set[str]:
    """The settings shared by the family whose member is called ``name`` (empty when no family knows the name)."""
    for base, (lookup, _) in POLYMORPHIC.items():
        try:
            lookup(name)
        except HiwmError:
            continue
        return set(settings(base)) - {"type"}
    return set()


def set_dotted(tree: dict, path: str, value) -> dict:
    """``tree`` with ``value`` at ``path`` ("operator.branches"); sections are created as needed."""
    head, _, rest = path.partition(".")
    out = dict(tree)
    if not rest:
        out[head] = value
        return out
    sub = out.get(head)
    out[head] = set_dotted(sub if isinstance(sub, dict) else {}, rest, value)
    return out


def build(cls: type, data: dict, where: str = ""):
    """A dict (as from JSON or ``as_dict``) -> an instance of config class ``cls``; missing keys keep the
    class's defaults. A one-line HiwmError for an unknown key, a wrong type or an invalid value."""
    if not isinstance(data, dict):
        raise HiwmError(f"setting {where or 'config'} must be a section (an object), got {_show(data)}")
    fam = _family(cls)
    if fam is not None and "type" in data:
        if not isinstance(data["type"], str):
            raise HiwmError(f"setting {_join(where, 'type')} must be a name, got {_show(data['type'])}")
        cls = fam[0](data["type"])
    fields, types_ = settings(cls), hints(cls)
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise HiwmError(f"unknown setting {_join(where, unknown[0])} (the {where or 'top'} section has: "
                        f"{', '.join(sorted(fields))})")
    kwargs = {name: _value(_default_kind(fields[name], types_[name], data[name]), data[name], _join(where, name))
              for name in data}
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as e:
        raise HiwmError(f"settings {where or 'config'}: {e}") from None


def _default_kind(f: dataclasses.Field, hint, v):
    """A family section given without ``type`` is of its default's type (a preset changing other settings only)."""
    if _family(hint) is None or not isinstance(v, dict) or "type" in v or f.default_factory is dataclasses.MISSING:
        return hint
    return type(f.default_factory())


def _value(hint, v, where: str):
    """``v`` checked (and converted: lists to tuples, ints to floats) against type ``hint``."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if v is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _value(inner[0], v, where) if len(inner) == 1 else v
    if dataclasses.is_dataclass(hint):
        return build(hint, v, where)
    if hint is bool:
        if isinstance(v, bool):
            return v
    elif hint is int:
        if isinstance(v, int) and not isinstance(v, bool):
            return v
    elif hint is float:
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            return float(v)
    elif hint is str:
        if isinstance(v, str):
            return v
    elif origin in (tuple, list):
        if isinstance(v, (list, tuple)):
            item = args[0] if args else Any
            items = [_value(item, x, f"{where}[{i}]") for i, x in enumerate(v)]
            return tuple(items) if origin is tuple else items
    elif origin is dict or hint is Any:
        return v
    else:
        return v
    raise HiwmError(f"setting {where} must be {_type_name(hint)}, got {_show(v)}")


def _type_name(hint) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (tuple, list):
        return f"a list of {_type_name(args[0]) if args else 'values'}"
    return {bool: "true or false", int: "a whole number", float: "a finite number", str: "a string"}.get(hint, str(hint))


def _show(v) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def _join(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name
