"""Command-line options for policy configs, generated from the registry: ``--policy.<field> VALUE``.

Every registered backbone's config fields become options (shared fields once, in an "observation and
action chunk" group; a backbone's own fields in a group named after it), so a new backbone shows up in
``--help`` without touching the CLI. Fields set from elsewhere (the task, ``--device``) are left out.
``--policy.input_features`` also takes the short names ``state``, ``env`` and ``image``.
"""

from __future__ import annotations

import argparse
import dataclasses
import textwrap
import typing
from typing import Any

from hiwm.errors import HiwmError
from hiwm.policies.base import PolicyConfig
from hiwm.policies.registry import POLICIES
from hiwm.policies.vision import IMAGE_ENCODERS
from hiwm.tasks.base import ENV_KEY, IMAGE_KEY, STATE_KEY

FEATURE_ALIASES = {"state": STATE_KEY, "env": ENV_KEY, "image": IMAGE_KEY}
NOT_OPTIONS = ("type", "device", "action_dim", "feature_dims")  # from --policy.type, --device and the task
DEST = "policy__"


def _bool(text: str) -> bool:
    low = text.lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _feature(text: str) -> str:
    return FEATURE_ALIASES.get(text, text)


def _argparse_kwargs(name: str, hint: Any) -> dict[str, Any] | None:
    """How argparse reads a field of this type; None for types the command line does not set."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    metavars = {int: "N", float: "X", str: "NAME"}
    if name == "input_features":
        return {"nargs": "+", "type": _feature, "metavar": "FEATURE"}
    if name == "image_encoder":
        return {"choices": IMAGE_ENCODERS.names()}
    if hint is bool:
        return {"type": _bool, "metavar": "BOOL"}
    if hint in metavars:
        return {"type": hint, "metavar": metavars[hint]}
    if origin in (tuple, list) and args and args[0] in metavars:
        return {"nargs": "+", "type": args[0], "metavar": metavars[args[0]]}
    return None


def _show(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return " ".join(str(v) for v in value)
    return str(value)


def _fields(cls: type[PolicyConfig]) -> dict[str, tuple[Any, Any]]:
    """Field name -> (type hint, default) of a config class, command-line settable fields only."""
    hints = typing.get_type_hints(cls)
    out = {}
    for f in dataclasses.fields(cls):
        if f.name in NOT_OPTIONS:
            continue
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        out[f.name] = (hints[f.name], cls.cli_defaults.get(f.name, default))
    return out


def add_policy_options(parser: argparse.ArgumentParser, default_type: str | None = "diffusion",
                       show_defaults: bool = True) -> None:
    """Add ``--policy.type`` and one ``--policy.<field>`` option per config field of every registered backbone.

    ``default_type`` None: the command picks the backbone itself when none is given (``hiwm demo``: the
    pipeline's); ``show_defaults`` False leaves field defaults out of the help (the command has its own).
    """
    names = POLICIES.names()
    which = f"default {default_type}" if default_type else "default: the pipeline's, with its CPU sizes"
    parser.add_argument("--policy.type", dest="policy_type", default=default_type, choices=names,
                        help=f"the policy backbone ({which}); its own options are listed below")
    shared = _fields(PolicyConfig)
    group = parser.add_argument_group(
        "policy observation and action-chunk options (every backbone)", _wrap(
            "input_features: any of state, env, image (observation.state, observation.environment_state, "
            "observation.image). With image, frames are resized to image_size, randomly cropped to "
            "crop_fraction of their side while training (centre crop when acting) and encoded by "
            "image_encoder (conv or resnet18-shaped, base width image_width, trained from scratch) into "
            "image_features per frame. The policy predicts horizon actions from n_obs_steps observations "
            "and executes n_action_steps of them. frame: a task name (rope-route) to see the low-dimensional "
            "inputs and give actions in that task's own frame, so layouts turned and shifted at random look "
            "alike; empty: the world frame."))
    for name, (hint, default) in shared.items():
        _add(group, name, hint, f"(default {_show(default)})" if show_defaults else "")
    seen: dict[str, list[str]] = {}
    per_type = {t: {k: v for k, v in _fields(POLICIES.get(t).config_class).items() if k not in shared} for t in names}
    for t, fields in per_type.items():
        for k in fields:
            seen.setdefault(k, []).append(t)
    for t in names:
        cls = POLICIES.get(t).config_class
        doc = (cls.__doc__ or "").strip().split("\n\n")[0]
        group = parser.add_argument_group(f"{t} backbone options (--policy.type {t})", _wrap(doc))
        for name, (hint, default) in per_type[t].items():
            owners = seen[name]
            if owners[0] != t:
                continue  # listed once, under the first backbone that has it
            also = f"also {', '.join(owners[1:])}" if len(owners) > 1 else ""
            choices = _choices(name, owners)
            if not show_defaults:
                _add(group, name, hint, " ".join(x for x in (choices, f"({also})" if also else "") if x))
                continue
            defaults = ", ".join(f"{o} {_show(per_type[o][name][1])}" for o in owners) if also else _show(default)
            _add(group, name, hint, " ".join(x for x in (choices, f"(default {defaults})" + (f"; {also}" if also else "")) if x))


def _choices(name: str, owners: list[str]) -> str:
    """'one of a, b' for a field with declared choices ('flow: a, b; diffusion: c' when backbones differ)."""
    per = {o: POLICIES.get(o).config_class.cli_choices.get(name) for o in owners}
    per = {o: c for o, c in per.items() if c}
    if not per:
        return ""
    if len(set(per.values())) == 1:
        return "one of " + ", ".join(next(iter(per.values())))
    return "; ".join(f"{o}: {', '.join(c)}" for o, c in per.items())


def _wrap(text: str) -> str:
    return textwrap.fill(" ".join(text.split()), width=100)


def _add(group, name: str, hint: Any, help_text: str) -> None:
    kwargs = _argparse_kwargs(name, hint)
    if kwargs is None:
        return
    group.add_argument(f"--policy.{name}", dest=DEST + name, default=argparse.SUPPRESS, help=help_text, **kwargs)


def given_policy_options(args: argparse.Namespace, type_name: str | None = None) -> dict[str, Any]:
    """The config fields given on the command line; an option of another backbone is a one-line HiwmError."""
    type_name = type_name or args.policy_type
    cls = POLICIES.get(type_name).config_class
    known = {f.name for f in dataclasses.fields(cls)}
    given = {k[len(DEST):]: v for k, v in vars(args).items() if k.startswith(DEST)}
    wrong = sorted(k for k in given if k not in known)
    if wrong:
        raise HiwmError(f"--policy.{wrong[0]} is not an option of the {type_name} backbone")
    return given


def policy_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """Config overrides for a new ``args.policy_type`` policy: its ``cli_defaults``, then what was given."""
    return {**POLICIES.get(args.policy_type).config_class.cli_defaults, **given_policy_options(args)}


__all__ = ["FEATURE_ALIASES", "add_policy_options", "given_policy_options", "policy_overrides"]
