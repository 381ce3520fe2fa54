"""How every command builds its RunConfig: defaults <- the task's preset <- --quick <- --config FILE <- options.

The policy's and the world model's kind (``type``) are settled first, from wherever they are given, so ``--quick``
adds the sizes of the kinds the run will use (the ``quick-<kind>`` presets).

    cfg = resolve(task="rope-route", quick=False, config_file=None, overrides={"operator.branches": ["4"]})

Options are dotted setting names (``--operator.branches 4``, ``--finetune.lr 5e-4``,
``--policy.input_features state image``); their text is read by the setting's type.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from importlib import resources
from pathlib import Path
from typing import Any

from hiwm.errors import HiwmError
from hiwm.recipe.settings import RunConfig
from hiwm.recipe.tree import POLYMORPHIC, as_dict, build, hints, merge, set_dotted, settings

QUICK = "quick"
# The option names the commands had before the recipe was one tree (reports quote them): -> the setting
ALIASES = {
    "demos": "data.expert_episodes", "wm-policy-episodes": "data.policy_play_episodes",
    "policy-steps": "policy_training.steps", "wm.type": "world_model.type", "wm-steps": "world_model_training.steps",
    "H": "operator.horizon", "r": "operator.rollback", "K": "operator.branches", "B": "operator.budget",
    "max-corrections": "operator.max_corrections", "risk": "operator.risk", "regress": "operator.regress",
    "finetune-steps": "finetune.steps", "finetune-lr": "finetune.lr", "recoveries": "finetune.recoveries",
    "hg-dagger": "real_hg_dagger",
}
PRESET_INFO = "about"  # a preset's one-line description, not a setting
PRESET_BASE = "extends"  # a preset applied first (a world-model kind's preset over its task's)


# ------------------------------------------------------------------ presets ----
def preset_names() -> list[str]:
    return sorted(p.name[:-5] for p in resources.files("hiwm.recipe.presets").iterdir() if p.name.endswith(".json"))


def load_preset(name: str, seen: tuple[str, ...] = ()) -> dict:
    """A shipped preset's settings, over the preset it extends; an unknown name is a one-line HiwmError."""
    if name not in preset_names():
        raise HiwmError(f"unknown preset {name!r} (known: {', '.join(preset_names())}; `hiwm presets` lists them)")
    if name in seen:
        raise HiwmError(f"preset {name!r} extends itself ({' -> '.join((*seen, name))})")
    data = json.loads(resources.files("hiwm.recipe.presets").joinpath(f"{name}.json").read_text())
    base = load_preset(data[PRESET_BASE], (*seen, name)) if PRESET_BASE in data else {}
    return merge(base, {k: v for k, v in data.items() if k not in (PRESET_INFO, PRESET_BASE)})


def preset_about(name: str) -> str:
    return json.loads(resources.files("hiwm.recipe.presets").joinpath(f"{name}.json").read_text()).get(PRESET_INFO, "")


def load_config_file(path: str | Path) -> dict:
    """A whole or partial config saved as JSON (``hiwm config --save``, or a run folder's config.json)."""
    p = Path(path)
    try:
        data = json.loads(p.read_text())
    except FileNotFoundError:
        raise HiwmError(f"config file not found: {p}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise HiwmError(f"config file {p} is not readable JSON ({type(e).__name__}: {str(e)[:80]})") from None
    if not isinstance(data, dict):
        raise HiwmError(f"config file {p} must hold a JSON object")
    return data


# ------------------------------------------------------------------ options ----
def split_overrides(tokens: list[str]) -> dict[str, list[str]]:
    """Leftover command-line tokens -> {setting: [value texts]}; ``--a.b=V`` or ``--a.b V [V ...]``."""
    out: dict[str, list[str]] = {}
    key = None
    for tok in tokens:
        if tok.startswith("--") and len(tok) > 2:
            name, eq, value = tok[2:].partition("=")
            key = ALIASES.get(name, name).replace("-", "_") if "." not in name else ALIASES.get(name, name)
            if key in out:
                raise HiwmError(f"--{name} is given twice")
            out[key] = [value] if eq else []
            if eq:
                key = None
        elif key is not None:
            out[key].append(tok)
        else:
            raise HiwmError(f"unexpected argument {tok!r} (settings are given as --section.name VALUE)")
    return out


def setting_hint(tree: dict, path: str):
    """The type of setting ``path`` in the config ``tree`` describes (a family section by its ``type``); an unknown
    setting is a one-line HiwmError."""
    cls: Any = RunConfig
    parts = path.split(".")
    for i, name in enumerate(parts):
        fields = settings(cls)
        if name not in fields:
            where = ".".join(parts[:i]) or "top"
            raise HiwmError(f"unknown setting {path} (the {where} section has: {', '.join(sorted(fields))})")
        hint = hints(cls)[name]
        if i == len(parts) - 1:
            return hint
        if not dataclasses.is_dataclass(hint):
            raise HiwmError(f"unknown setting {path} ({'.'.join(parts[:i + 1])} is a value, not a section)")
        tree = tree.get(name, {}) if isinstance(tree, dict) else {}
        cls = _section_class(hint, tree)
    return cls


def _section_class(hint: type, tree: dict) -> type:
    for base, (lookup, _) in POLYMORPHIC.items():
        if issubclass(hint, base) and isinstance(tree.get("type"), str):
            return lookup(tree["type"])
    return hint


def parse_text(hint, texts: list[str], name: str):
    """Option text(s) -> a value of type ``hint`` (lists take several words; ``none`` for an optional one)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if type(None) in args:
        if texts == ["none"]:
            return None
        hint = next(a for a in args if a is not type(None))
        origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (tuple, list):
        if not texts:
            raise HiwmError(f"--{name} needs at least one value")
        return [parse_text(args[0] if args else str, [t], name) for t in texts]
    if hint is bool and not texts:
        return True  # a bare switch: --real_hg_dagger
    if len(texts) != 1:
        raise HiwmError(f"--{name} takes one value, got {len(texts)}")
    text = texts[0]
    try:
        if hint is bool:
            low = text.lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if hint in (int, float):
            return hint(text)
    except ValueError:
        kind = {bool: "on or off", int: "a whole number", float: "a number"}[hint]
        raise HiwmError(f"--{name} must be {kind}, got {text!r}") from None
    return text


# ------------------------------------------------------------------ resolve ----
def resolve(task: str | None = None, quick: bool = False, config_file: str | Path | None = None,
            overrides: dict[str, list[str]] | None = None, preset: str | None = None, config: dict | None = None,
            **top: Any) -> RunConfig:
    """The effective config. ``preset`` None: the task's own preset, where one ships. ``config``: a config tree
    taken as a file's. ``top``: top-level values given as their own options (seed, device); None: not given."""
    file = merge(load_config_file(config_file) if config_file else {}, config or {})
    task = task or file.get("task") or RunConfig.task
    defaults = RunConfig()  # each family section starts as its default type; a preset may change it
    tree: dict = {"policy": {"type": defaults.policy.type}, "world_model": {"type": defaults.world_model.type}}
    name = preset if preset is not None else (task if task in preset_names() else None)
    if name:
        tree = merge(tree, load_preset(name))
    given = dict(overrides or {})
    kinds = {section: given.pop(f"{section}.type")[0] if f"{section}.type" in given
             else file.get(section, {}).get("type") for section in ("policy", "world_model")}
    kinds = {section: {"type": kind} for section, kind in kinds.items() if kind}
    tree = merge(tree, kinds)  # the final kinds first: they decide what the sections' other settings are
    if quick:  # the tiny sizes, then the policy's and the world model's kind's own (quick-<kind>)
        tree = merge(tree, load_preset(QUICK))
        for section in ("policy", "world_model"):
            sizes = f"{QUICK}-{tree[section]['type']}"
            tree = merge(tree, load_preset(sizes)) if sizes in preset_names() else tree
    tree = merge(merge(tree, file), kinds)  # an option's kind wins over the file's, keeping only shared settings
    for path, texts in given.items():
        tree = set_dotted(tree, path, parse_text(setting_hint(tree, path), texts, path))
    tree["task"] = task
    tree.update({k: v for k, v in top.items() if v is not None})
    return build(RunConfig, tree)


def config_json(cfg: RunConfig) -> str:
    return json.dumps(as_dict(cfg), indent=2)


__all__ = ["ALIASES", "config_json", "load_preset", "parse_text", "preset_about", "preset_names", "resolve",
           "setting_hint", "split_overrides"]
