"""A per-node ensemble world model for chains of points (the rope): one small network shared by every node.

The MLP ensemble (model.py) maps the whole scene to every point's change at once, so it has to learn
separately, for each of the rope's 25 nodes, how a pull travels along the rope and how a node meets a
post. Here the same weights serve every node: each node sees its own features (where it is relative to
the gripper, its height and last motion, whether it is the held one and how far along the rope it lies
from the held one, where the posts are relative to it) plus the step's global features (the gripper's
motion, height, closed flags, target and controller move), and dilated 1-D convolutions along the
chain carry the pull from node to node. Its per-node changes go through the same codec (gripper.py),
so the targets, the multi-step loss, the known gripper motion and the ensemble spread are the MLP's.

It reads the codec's flat input vector and splits it (``split``), so codec and training are shared.
Members run as batched matmuls, the convolutions included.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from hiwm.world_models.base import WORLD_MODELS
from hiwm.world_models.ensemble.model import EnsembleConfig, EnsembleLinear, EnsembleWorldModel


@dataclass
class ChainConfig(EnsembleConfig):
    type: str = "chain"
    task: str = "rope-route"
    channels: int = 48
    conv_layers: int = 4  # dilations 1, 2, 4, 8, ...: 4 layers of kernel 3 see 31 nodes
    kernel: int = 3


@WORLD_MODELS.register("chain")
class ChainWorldModel(EnsembleWorldModel):
    config_class = ChainConfig

    def __init__(self, config: ChainConfig):
        nn.Module.__init__(self)
        self.config = config
        from hiwm.tasks import task_class
        from hiwm.world_models.ensemble.features import SCENE_CODECS
        self.task = task_class(config.task)
        self.codec = SCENE_CODECS.get(config.task)(config.n_hist)
        if not hasattr(self.codec, "n_pts"):
            raise ValueError(f"the chain world model needs a codec over object points; {config.task} has none")
        h, st = config.n_hist, self.codec.n_static
        self.n_node = 3 + 1 + 3 * (h - 1) + 1 + 1 + st  # rel, height, motions, held, offset to held, posts
        self.n_glob = 3 * (h - 1) + h + 1 + 3 + 3 + 1  # gripper motions, closed flags, height, to, move, grasp
        e, c = config.members, config.channels
        self.encode = EnsembleLinear(e, self.n_node + self.n_glob, c)
        self.convs = nn.ModuleList(EnsembleLinear(e, config.kernel * c, c) for _ in range(config.conv_layers))
        self.node_head = EnsembleLinear(e, c, 3)
        self.grip_head = EnsembleLinear(e, c, 3)
        for name, n in (("node_mean", self.n_node), ("node_std", self.n_node), ("glob_mean", self.n_glob),
                        ("glob_std", self.n_glob)):
            self.register_buffer(name, torch.zeros(n) if name.endswith("mean") else torch.ones(n))
        self.register_buffer("out_std", torch.ones(self.codec.n_out))
        self.register_buffer("in_mean", torch.zeros(1))  # device anchor the base class reads

    def split(self, feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The codec's flat inputs (..., n_in) -> per-node (..., P, n_node), global (..., n_glob) features
        (layout: GripperCodec.inputs)."""
        p, h, st = self.codec.n_pts, self.config.n_hist, self.codec.n_static
        lead = feats.shape[:-1]
        i = 0

        def take(n):
            nonlocal i
            i += n
            return feats[..., i - n:i]
        rel = take(3 * p).reshape(*lead, p, 3)
        height = take(p)[..., None]
        mv = take(3 * p * (h - 1)).reshape(*lead, h - 1, p, 3).transpose(-2, -3).reshape(*lead, p, 3 * (h - 1))
        glob = [take(3 * (h - 1)), take(h), take(1), take(3), take(3), take(1)]
        held = take(p)[..., None]
        posts = take(st).reshape(*lead, 1, st // 2, 2) - rel[..., None, :2]  # each post relative to the node
        idx = torch.arange(p, dtype=feats.dtype, device=feats.device)
        held_at = (held[..., 0] * idx).sum(-1, keepdim=True)
        offset = held.sum(-2) * (idx - held_at) / p  # (..., P): 0 everywhere when nothing is held
        node = torch.cat([rel, height, mv, held, offset[..., None], posts.reshape(*lead, p, st)], -1)
        return node, torch.cat(glob, -1)

    def set_normalization(self, inputs: torch.Tensor, targets: torch.Tensor) -> None:
        node, glob = self.split(inputs)
        node = node.reshape(-1, self.n_node)
        self.node_mean.copy_(node.mean(0))
        self.node_std.copy_(node.std(0).clamp_min(1e-3))
        self.glob_mean.copy_(glob.mean(0))
        self.glob_std.copy_(glob.std(0).clamp_min(1e-3))
        self.out_std.copy_(targets.std(0).clamp_min(1e-3))
        self._ckpt_id = None

    def _neighbours(self, x: torch.Tensor, dilation: int) -> torch.Tensor:
        """(E, N, P, C) -> (E, N, P, kernel * C): each node's features next to those of the nodes
        ``dilation`` apart along the chain (zeros past the ends). A dilated convolution written as one
        batched matmul (faster on a CPU than a grouped Conv1d)."""
        r = self.config.kernel // 2
        pad = nn.functional.pad(x, (0, 0, r * dilation, r * dilation))
        p = x.shape[2]
        return torch.cat([pad[:, :, j * dilation: j * dilation + p] for j in range(self.config.kernel)], -1)

    def deltas(self, feats: torch.Tensor) -> torch.Tensor:
        """feats (E, N, n_in) -> per-member scene changes (E, N, n_out), in codec units."""
        e, n = feats.shape[:2]
        p, c = self.codec.n_pts, self.config.channels
        node, glob = self.split(feats)
        node = (node - self.node_mean) / self.node_std
        glob = ((glob - self.glob_mean) / self.glob_std)[:, :, None, :].expand(-1, -1, p, -1)
        x = nn.functional.silu(self.encode(torch.cat([node, glob], -1).reshape(e, n * p, -1)))  # (E, N*P, C)
        x = x.reshape(e, n, p, c)
        for i, conv in enumerate(self.convs):
            x = x + nn.functional.silu(conv(self._neighbours(x, 2**i).reshape(e, n * p, -1))).reshape(e, n, p, c)
        pts = self.node_head(x.reshape(e, n * p, c)).reshape(e, n, 3 * p)
        grip = self.grip_head(x.mean(2))
        return torch.cat([grip, pts], -1) * self.out_std

    def _predict_numpy(self, scenes: np.ndarray, actions: np.ndarray, action: np.ndarray):
        """No hand-fused numpy path here: the torch forward, without gradients."""
        with torch.no_grad():
            feats = torch.from_numpy(np.asarray(self.codec.inputs(scenes, actions, action), np.float32))
            d = self.deltas(feats[None].expand(self.config.members, -1, -1)).numpy().astype(np.float64)
        nxt = self.codec.apply(scenes[:, -1].astype(np.float64), d.mean(0), action)
        return nxt.astype(np.float32, copy=False), self.codec.spread(d)
