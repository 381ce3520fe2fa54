"""Training through the kind's ``fit``: the datasets give exactly the weights of the scene-vector recipe that
committed results were trained with, and the same seed gives the same weights."""

from __future__ import annotations


import pytest
import torch
from wm_fixtures import play_dataset

from hiwm.data.sequences import SequenceSampler
from hiwm.seeding import seeded
from hiwm.training import TrainConfig, train
from hiwm.world_models import WORLD_MODELS, make_world_model_config
from hiwm.world_models.ensemble.fit import scene_episodes
from hiwm.world_models.training import fit_world_model

SCENE_KINDS = {"ensemble": ("pusht", {"members": 2, "hidden": 16, "layers": 1, "rollout_steps": 2}),
               "chain": ("rope-route", {"members": 2, "channels": 8, "conv_layers": 1,
                                         "rollout_steps": 2})}


def _tc(seed: int) -> TrainConfig:
    return TrainConfig(steps=4, batch_size=8, lr=1e-3, warmup_steps=1, ema_decay=None, log_every=2, seed=seed)


def _weights(model) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _recipe(config, episodes, tc):
    """The scene-vector training as it was written before ``WorldModel.fit`` (the oracle, kept verbatim)."""
    with seeded(tc.seed):
        model = WORLD_MODELS.get(config.type)(config)
    codec = model.codec
    sampler = SequenceSampler(episodes, config.n_hist, config.rollout_steps, lambda s: codec.rest_action(s))
    probe = sampler.sample(min(8192, 16 * len(sampler)), torch.Generator().manual_seed(tc.seed))
    h = config.n_hist
    feats = codec.inputs(probe["scenes"][:, :h], probe["actions"][:, :h], probe["actions"][:, h])
    model.set_normalization(feats, codec.targets(probe["scenes"][:, h - 1], probe["scenes"][:, h],
                                                 probe["actions"][:, h]))
    summary = train(model, sampler.sample, tc, progress=False)
    return model.eval(), summary


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    """Two datasets per task, so the order of datasets and of their episodes is part of the check."""
    root = tmp_path_factory.mktemp("fit")
    return {task: [play_dataset(task, root / f"{task}-a", episodes=2, seed=100),
                   play_dataset(task, root / f"{task}-b", episodes=1, seed=200)]
            for task, _ in SCENE_KINDS.values()}


@pytest.mark.parametrize("kind", list(SCENE_KINDS))
def test_fit_from_datasets_equals_the_scene_vector_recipe(kind, datasets):
    task, sizes = SCENE_KINDS[kind]
    cfg = make_world_model_config(kind, task=task, **sizes)
    dss = datasets[task]
    old, old_summary = _recipe(cfg, [ep for ds in dss for ep in scene_episodes(ds, task)], _tc(3))
    new, summary = fit_world_model(cfg, dss, _tc(3), progress=False)
    assert type(new) is WORLD_MODELS.get(kind)
    assert _same(_weights(old), _weights(new)), "same datasets and seed must give bit-identical weights"
    assert summary["history"] == old_summary["history"]


@pytest.mark.parametrize("kind", list(SCENE_KINDS))
def test_fit_is_a_function_of_the_datasets_and_the_seed(kind, datasets):
    task, sizes = SCENE_KINDS[kind]
    cfg = make_world_model_config(kind, task=task, **sizes)

    def fit(seed: int, dss=datasets[task]) -> dict:
        return _weights(fit_world_model(cfg, dss, _tc(seed), progress=False)[0])

    torch.manual_seed(1)
    a = fit(5)
    torch.manual_seed(2)  # whatever the global RNG did in between
    assert _same(a, fit(5))
    assert not _same(a, fit(6))
    assert not _same(a, fit(5, datasets[task][::-1])), "the order of the datasets is part of the recipe"
