"""The queue of failure-prone states: where in the tree a person's help is most likely needed.

Computed from the rollout tree alone (predictions, never the simulator), per branch that is not
discarded, the first node where
  * ``stall``: progress gained less than ``stall_gain`` over ``stall_window`` steps (jump to where the
    stall began),
  * ``uncertain``: the world model's ensemble spread exceeds ``uncertainty`` (jump a few steps before,
    while the model could still be trusted),
  * ``risk``: the predicted scene enters one the task calls failure-prone (``Task.at_risk``; Push-T: the T
    against a wall), from a safe one (jump a few steps before),
  * ``disagree``: two action chunks the policy samples at the node (one batch of 2, a fixed generator)
    differ by more than ``disagree`` on average (the policy is unsure what to do there).

Thresholds hold for every task: the spread is compared as a fraction of the task's workspace width (its
action layout's picture, tasks/controls.py), and action chunks are compared with every action dim
scaled to [0, 1] by the action box (so a gripper's metres and its grasp weigh alike).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from hiwm.session.engine import policy_observation
from hiwm.session.tree import Node, RolloutTree
from hiwm.tasks import action_layout


@dataclass
class QueueConfig:
    stall_window: int = 20
    stall_gain: float = 0.02
    uncertainty: float = 1 / 64  # world-model spread above which it is out of its depth, as a fraction of the
    # workspace width (Push-T: 8 px)
    disagree: float = 0.12  # mean distance between two sampled chunks, actions scaled to the unit box (Push-T: ~60 px)
    stride: int = 4  # the policy's samples are compared every `stride` nodes along a branch
    budget: int = 48  # new sample comparisons per scan (the rest on the next scan)
    lead: int = 3  # steps before the first uncertain node to jump to
    limit: int = 30


@torch.no_grad()
def sample_spread(policy, task, tree: RolloutTree, node_id: int, seed: int = 0) -> float:
    """Mean L2 distance between two action chunks (2, n_action_steps, A) sampled at ``node_id``, each action
    dim scaled to [0, 1] by the task's action box."""
    n_obs = policy.config.n_obs_steps
    path = tree.path(node_id)[-n_obs:]
    path = [path[0]] * (n_obs - len(path)) + path  # the first observation stands in for the missing past
    steps = [policy_observation(policy, task, n.obs) for n in path]  # key -> (1, ...) each
    history = {k: torch.cat([o[k] for o in steps])[None] for k in steps[0]}  # key -> (1, n_obs, ...)
    batch = {k: v.expand(2, *v.shape[1:]) for k, v in history.items()}
    chunk = policy.predict_action_chunk(batch, generator=torch.Generator().manual_seed(seed * 7919 + node_id))
    span = torch.as_tensor(np.subtract(task.spec_.action_high, task.spec_.action_low), dtype=chunk.dtype)
    return float(((chunk[0] - chunk[1]) / span).norm(dim=-1).mean())


def _stall(path: list[Node], branch_id: int, cfg: QueueConfig) -> Node | None:
    w = cfg.stall_window
    prog = np.array([n.progress for n in path])
    for i in range(w, len(path)):
        if path[i].branch_id == branch_id and prog[i - w + 1: i + 1].max() < prog[i - w] + cfg.stall_gain:
            return path[i - w]
    return None


def _entering_risk(path: list[Node], branch_id: int, risky: dict[int, bool]) -> Node | None:
    """The branch's first own node whose predicted scene is at risk while its parent's is not.
    risky: node id -> Task.at_risk of its predicted scene."""
    for parent, n in zip(path, path[1:]):
        if n.branch_id == branch_id and risky[n.id] and not risky[parent.id]:
            return n
    return None


def failure_queue(tree: RolloutTree, policy, task, cfg: QueueConfig, spreads: dict[int, float], seed: int = 0) -> list[dict]:
    """Items {node, branch, depth, reason, value}, most urgent first; ``spreads`` caches the samples.

    ``value``: the final progress (stall), the spread in task units (uncertain), the chunks' distance (disagree).
    """
    warn = uncertainty_threshold(task, cfg)
    items: list[dict] = []
    budget = cfg.budget
    # once per node, not once per path through it (branches share their prefixes)
    risky = {n.id: bool(task.at_risk(task.scene_of(n.obs))) for n in tree.nodes.values()}
    for b in tree.branches.values():
        if b.keep is False:
            continue
        path = tree.path(b.leaf)
        own = [n for n in path if n.branch_id == b.id]
        node = _stall(path, b.id, cfg)
        if node is not None:
            items.append({"node": node.id, "branch": b.id, "depth": node.depth, "reason": "stall",
                          "value": round(float(path[-1].progress), 3)})
        entry = _entering_risk(path, b.id, risky)
        if entry is not None:
            start = tree.ancestor(entry.id, cfg.lead)
            items.append({"node": start.id, "branch": b.id, "depth": start.depth, "reason": "risk", "value": 1.0})
        high = next((n for n in own if n.uncertainty > warn), None)
        if high is not None:
            start = tree.ancestor(high.id, cfg.lead)
            items.append({"node": start.id, "branch": b.id, "depth": start.depth, "reason": "uncertain",
                          "value": float(f"{high.uncertainty:.3g}")})
        for n in own[:: cfg.stride]:
            if n.id not in spreads:
                if budget <= 0:
                    break
                spreads[n.id] = sample_spread(policy, task, tree, n.id, seed)
                budget -= 1
            if spreads[n.id] > cfg.disagree:
                items.append({"node": n.id, "branch": b.id, "depth": n.depth, "reason": "disagree",
                              "value": round(spreads[n.id], 3)})
                break
    seen, out = set(), []
    for it in sorted(items, key=lambda it: (-_urgency(it, cfg, warn), it["depth"])):
        if (it["node"], it["reason"]) not in seen:
            seen.add((it["node"], it["reason"]))
            out.append(it)
    return out[: cfg.limit]


def uncertainty_threshold(task, cfg: QueueConfig) -> float:
    """The world-model spread (task units) above which it is out of its depth."""
    return cfg.uncertainty * action_layout(task.spec_).workspace


def _urgency(item: dict, cfg: QueueConfig, warn: float) -> float:
    """How far past its threshold a signal is (stall: how little progress was made)."""
    if item["reason"] == "uncertain":
        return item["value"] / warn
    if item["reason"] == "disagree":
        return item["value"] / cfg.disagree
    if item["reason"] == "risk":
        return 2.0  # as urgent as a signal twice past its threshold: the scene itself is the warning
    return 1.0 + (1.0 - item["value"])
