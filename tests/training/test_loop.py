"""The generic training loop on a model small enough to train in well under a second."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from hiwm.errors import HiwmError
from hiwm.training import EMA, TrainConfig, lr_factor, train


@pytest.fixture(autouse=True, scope="module")
def _single_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: threads only add overhead on a shared machine
    yield
    torch.set_num_threads(previous)


class Regressor(nn.Module):
    """y = W x + b, loss = MSE; the minimal thing with forward(batch) -> (loss, info)."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(3, 2)

    def forward(self, batch):
        err = self.linear(batch["x"]) - batch["y"]
        loss = (err**2).mean()
        return loss, {"loss": loss.detach(), "abs_err": err.abs().mean().detach()}


TRUE_W = torch.tensor([[1.0, -2.0, 0.5], [0.0, 3.0, -1.0]])


def sample(n: int, g: torch.Generator) -> dict:
    x = torch.randn(n, 3, generator=g)
    return {"x": x.numpy(), "y": x @ TRUE_W.T + 0.5}  # numpy on purpose: the loop converts it


def cfg(**kw) -> TrainConfig:
    base = dict(steps=300, batch_size=32, lr=0.05, weight_decay=0.0, warmup_steps=10, grad_clip=10.0, ema_decay=None, log_every=50)
    return TrainConfig(**{**base, **kw})


def test_loss_falls_and_history_is_reported():
    logged = []
    result = train(Regressor(), sample, cfg(), progress=False, on_log=lambda s, m: logged.append((s, m)))
    steps = [s for s, _ in result["history"]]
    assert steps == [50, 100, 150, 200, 250, 300]
    assert result["history"][-1][1] < 1e-2 * result["history"][0][1]
    assert result["final_loss"] == result["history"][-1][1] and result["it_per_s"] > 0
    assert [s for s, _ in logged] == steps and {"loss", "lr", "abs_err", "grad_norm"} <= set(logged[0][1])


def test_same_seed_same_weights_and_model_left_in_eval_mode():
    a, b, c = Regressor(), Regressor(), Regressor()
    b.load_state_dict(a.state_dict())
    c.load_state_dict(a.state_dict())
    train(a, sample, cfg(steps=40, seed=3), progress=False)
    train(b, sample, cfg(steps=40, seed=3), progress=False)
    train(c, sample, cfg(steps=40, seed=4), progress=False)
    assert torch.equal(a.linear.weight, b.linear.weight) and not torch.equal(a.linear.weight, c.linear.weight)
    assert not a.training


def test_lr_schedule_warms_up_then_decays_to_zero():
    assert lr_factor(0, 10, 100) == pytest.approx(0.1)
    assert lr_factor(9, 10, 100) == pytest.approx(1.0)
    assert lr_factor(10, 10, 100) == pytest.approx(1.0)
    assert lr_factor(55, 10, 100) == pytest.approx(0.5)
    assert lr_factor(100, 10, 100) == pytest.approx(0.0, abs=1e-12)
    assert lr_factor(0, 0, 100) == pytest.approx(1.0)


def test_ema_weights_end_up_in_the_model(monkeypatch):
    import hiwm.training.loop as loop

    model = Regressor()
    seen = []

    class Spy(EMA):
        def copy_to(self, m):
            seen.append({k: v.clone() for k, v in self.shadow.items()})
            super().copy_to(m)

    monkeypatch.setattr(loop, "EMA", Spy)
    train(model, sample, cfg(steps=60, ema_decay=0.9), progress=False)
    assert torch.equal(model.linear.weight, seen[0]["linear.weight"])


def test_snapshots_see_the_weights_as_saved_then_and_training_goes_on_unchanged():
    a, b = Regressor(), Regressor()
    b.load_state_dict(a.state_dict())
    seen = {}
    train(a, sample, cfg(steps=60, ema_decay=0.9), progress=False, snapshots={10, 30},
          on_snapshot=lambda step, m: seen.__setitem__(step, m.linear.weight.detach().clone()))
    train(b, sample, cfg(steps=60, ema_decay=0.9), progress=False)
    assert sorted(seen) == [10, 30] and torch.equal(a.linear.weight, b.linear.weight), "snapshots change nothing"


def test_a_snapshot_holds_the_ema_weights_of_its_step(monkeypatch):
    import hiwm.training.loop as loop

    shadows = []

    class Spy(EMA):
        def update(self, m):
            super().update(m)
            shadows.append(self.shadow["linear.weight"].clone())

    monkeypatch.setattr(loop, "EMA", Spy)
    seen = {}
    model = Regressor()
    train(model, sample, cfg(steps=20, ema_decay=0.9), progress=False, snapshots={5},
          on_snapshot=lambda step, m: seen.__setitem__(step, m.linear.weight.detach().clone()))
    assert torch.equal(seen[5], shadows[4]) and not torch.equal(seen[5], shadows[-1])


def test_ema_average_lags_the_parameters():
    model = nn.Linear(1, 1, bias=False)
    nn.init.zeros_(model.weight)
    ema = EMA(model, decay=0.5)
    with torch.no_grad():
        model.weight.fill_(1.0)
    for _ in range(20):
        ema.update(model)
    assert 0.9 < ema.shadow["weight"].item() < 1.0


def test_diverging_loss_raises_one_line_error():
    class Nan(Regressor):
        def forward(self, batch):
            loss, info = super().forward(batch)
            return loss * math.nan, info

    with pytest.raises(HiwmError, match="diverged") as info:
        train(Nan(), sample, cfg(steps=5, log_every=5), progress=False)
    assert "\n" not in str(info.value)


def test_bad_config_is_rejected():
    with pytest.raises(HiwmError):
        train(Regressor(), sample, cfg(steps=0), progress=False)
    with pytest.raises(HiwmError):
        train(Regressor(), sample, cfg(ema_decay=1.5), progress=False)


def test_batches_are_moved_to_the_device():
    seen = []

    class Check(Regressor):
        def forward(self, batch):
            seen.append((type(batch["x"]), batch["x"].device))
            return super().forward(batch)

    train(Check(), sample, cfg(steps=2, log_every=1), progress=False)
    assert all(t is torch.Tensor and d.type == "cpu" for t, d in seen)
