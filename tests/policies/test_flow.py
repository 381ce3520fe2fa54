"""Flow-matching specifics: pi0's conventions (interpolation, target, time law, integration direction)
and the prefix/suffix attention (the shared interface is tested in test_interface.py)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from policy_fixtures import make_tiny, tiny_config, train_batch
from hiwm.errors import HiwmError
from hiwm.policies import make_policy
from hiwm.policies.flow.modeling import time_embedding
from hiwm.policies.flow.transformer import PrefixTransformer


def test_loss_regresses_noise_minus_actions_at_the_interpolant(monkeypatch):
    """x_t = t noise + (1 - t) actions, target u = noise - actions, padded actions excluded."""
    policy = make_tiny("flow", prediction_type="velocity")
    batch = train_batch(policy, 8)
    seen = {}

    def network(x_t, t, cache):
        seen["x_t"], seen["t"] = x_t, t
        return torch.zeros_like(x_t)

    monkeypatch.setattr(policy, "network", network)
    torch.manual_seed(1)
    loss, _ = policy(batch)
    torch.manual_seed(1)
    noise = torch.randn(batch["action"].shape)  # the draws compute_loss makes, in order
    t = policy.sample_time(8, torch.device("cpu"))
    action = policy.normalizer.normalize("action", batch["action"])
    torch.testing.assert_close(seen["t"], t)
    torch.testing.assert_close(seen["x_t"], t[:, None, None] * noise + (1 - t[:, None, None]) * action)
    valid = ~batch["action_is_pad"]
    torch.testing.assert_close(loss, ((noise - action) ** 2)[valid].mean())
    assert batch["action_is_pad"].any()


def test_training_times_follow_the_beta_law():
    policy = make_tiny("flow", time_beta_alpha=1.5)  # pi0's law
    torch.manual_seed(0)
    t = policy.sample_time(20000, torch.device("cpu"))
    cfg = policy.config
    assert t.min() >= cfg.time_min and t.max() <= 1.0
    mean = cfg.time_min + (1 - cfg.time_min) * cfg.time_beta_alpha / (cfg.time_beta_alpha + cfg.time_beta_beta)
    assert abs(t.mean().item() - mean) < 0.01  # Beta(1.5, 1): mean 0.6, more weight on noisy t
    assert (t > 0.5).float().mean() > 0.6


def test_generate_integrates_from_noise_at_t1_to_t0(monkeypatch):
    """With a constant velocity c, N Euler steps of dt = -1/N take the noise x_1 to x_1 - c."""
    policy = make_tiny("flow", clip_sample=False, num_inference_steps=5)
    times = []
    c = torch.tensor([0.3, -0.2])

    def velocity(x_t, t, cache):
        times.append(t[0].item())
        return c.expand_as(x_t)

    monkeypatch.setattr(policy, "velocity", velocity)
    obs = torch.zeros(3, policy.config.n_obs_steps, policy.config.obs_dim)
    out = policy.generate(obs, torch.Generator().manual_seed(4))
    noise = torch.randn((3, policy.config.horizon, 2), generator=torch.Generator().manual_seed(4))
    torch.testing.assert_close(out, noise - c)
    assert times == pytest.approx([1.0, 0.8, 0.6, 0.4, 0.2])


def test_sample_prediction_learns_the_chunk_and_integrates_through_its_velocity(monkeypatch):
    """With prediction_type "sample" the loss targets the clean chunk, and v = (x_t - sample) / t: a network
    that always answers the chunk a takes any x_1 to exactly a."""
    policy = make_tiny("flow", prediction_type="sample", clip_sample=False, num_inference_steps=5)
    obs = torch.zeros(3, policy.config.n_obs_steps, policy.config.obs_dim)
    a = torch.full((3, policy.config.horizon, 2), 0.25)
    monkeypatch.setattr(policy, "network", lambda x_t, t, cache: a)
    torch.testing.assert_close(policy.generate(obs, torch.Generator().manual_seed(1)), a)
    torch.manual_seed(0)
    loss, _ = policy.compute_loss(obs, torch.full_like(a, 0.75), torch.zeros(3, policy.config.horizon, dtype=torch.bool))
    torch.testing.assert_close(loss, torch.tensor(0.25))  # (0.25 - 0.75)^2: the chunk is the target


def test_prefix_cache_equals_one_masked_pass():
    """Observation tokens see only each other, action tokens see everything: computing the prefix once and
    reusing its keys/values gives exactly what one joint pass with that block mask gives."""
    torch.manual_seed(0)
    net = PrefixTransformer(d_model=16, n_heads=2, n_layers=3).eval()
    prefix, suffix = torch.randn(2, 3, 16), torch.randn(2, 5, 16)
    cached = net.decode(suffix, net.encode_prefix(prefix))

    x = torch.cat([prefix, suffix], dim=1)
    n_p, n = prefix.shape[1], x.shape[1]
    allowed = torch.ones(n, n, dtype=torch.bool)
    allowed[:n_p, n_p:] = False  # the prefix never attends to the actions
    for block in net.blocks:
        q, k, v = block._qkv(block.norm1(x))
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)
        x = x + block.proj(a.transpose(1, 2).reshape(x.shape))
        x = x + block.mlp(block.norm2(x))
    torch.testing.assert_close(cached, net.norm(x)[:, n_p:], atol=1e-5, rtol=1e-5)


def test_adaptive_blocks_start_as_the_identity_and_leave_the_prefix_alone():
    """adaLN-Zero: zero-initialised modulation makes every block (and the final norm's modulation) a no-op
    at init, whatever the conditioning vector; the prefix cache never depends on it."""
    torch.manual_seed(0)
    net = PrefixTransformer(d_model=16, n_heads=2, n_layers=2, adaptive=True).eval()
    prefix, suffix, cond = torch.randn(2, 3, 16), torch.randn(2, 5, 16), torch.randn(2, 16)
    cache = net.encode_prefix(prefix)
    torch.testing.assert_close(net.decode(suffix, cache, cond), net.norm(suffix))
    plain = PrefixTransformer(d_model=16, n_heads=2, n_layers=2)
    plain.load_state_dict(net.state_dict(), strict=False)  # same attention and MLP weights
    for (k1, v1), (k2, v2) in zip(cache, plain.encode_prefix(prefix)):
        torch.testing.assert_close(k1, k2)
        torch.testing.assert_close(v1, v2)
    with torch.no_grad():  # once trained, the conditioning vector changes the output
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
    assert not torch.allclose(net.decode(suffix, cache, cond), net.decode(suffix, cache, -cond))


@pytest.mark.parametrize("conditioning", ["adaptive_time", "adaptive"])
def test_adaptive_conditioning_trains_and_reads_the_observation(conditioning, tmp_path):
    """Each conditioning mode learns a tiny batch, round-trips through a checkpoint, and its chunk depends
    on the observation (through the prefix, and with "adaptive" also through the modulation)."""
    from hiwm.policies import load_policy
    from hiwm.training import TrainConfig, train

    torch.manual_seed(0)
    policy = make_tiny("flow", conditioning=conditioning, prediction_type="sample")
    assert (policy.obs_cond is not None) == (conditioning == "adaptive")
    batch = train_batch(policy, 16)
    cfg = TrainConfig(steps=60, batch_size=16, lr=3e-3, warmup_steps=6, ema_decay=None, log_every=20, seed=0)
    history = train(policy, lambda n, g: batch, cfg, progress=False)["history"]
    assert history[-1][1] < 0.5 * history[0][1], history
    policy.save(tmp_path / "ckpt")
    loaded = load_policy(tmp_path / "ckpt", device="cpu")
    obs = torch.randn(4, policy.config.n_obs_steps, policy.config.obs_dim)
    g = lambda: torch.Generator().manual_seed(3)  # noqa: E731
    torch.testing.assert_close(policy.generate(obs, g()), loaded.generate(obs, g()), rtol=0, atol=0)
    assert not torch.allclose(policy.generate(obs, g()), policy.generate(obs.flip(0), g()))


@pytest.mark.parametrize("adaptive", [False, True])
def test_causal_actions_see_only_earlier_actions(adaptive):
    """With ``causal_suffix`` action token i's output does not change when a later action token does, but
    does when the prefix does; without it every action sees every other."""
    torch.manual_seed(0)
    net = PrefixTransformer(d_model=16, n_heads=2, n_layers=2, adaptive=adaptive, causal_suffix=True).eval()
    with torch.no_grad():  # off the zero-initialised modulation, which makes an adaptive block the identity
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
    prefix, suffix = torch.randn(2, 3, 16), torch.randn(2, 5, 16)
    cond = torch.randn(2, 16) if adaptive else None
    later = suffix.clone()
    later[:, 3:] += torch.randn(2, 2, 16)  # (a constant shift would vanish in the LayerNorms)
    out, out_later = net.decode(suffix, net.encode_prefix(prefix), cond), net.decode(later, net.encode_prefix(prefix), cond)
    torch.testing.assert_close(out[:, :3], out_later[:, :3])
    assert not torch.allclose(out[:, 3:], out_later[:, 3:])
    assert not torch.allclose(out[:, :1], net.decode(suffix, net.encode_prefix(prefix + torch.randn_like(prefix)), cond)[:, :1])
    net.causal_suffix = False
    assert not torch.allclose(net.decode(later, net.encode_prefix(prefix), cond)[:, :3], net.decode(suffix, net.encode_prefix(prefix), cond)[:, :3])


def test_time_embedding_separates_nearby_times():
    emb = time_embedding(torch.tensor([0.0, 0.01, 0.5, 1.0]), 32)
    assert emb.shape == (4, 32) and torch.isfinite(emb).all()
    assert (emb[0] - emb[1]).norm() > 0.1  # the shortest period (4e-3) resolves small steps


def test_flow_config_errors():
    for overrides, needle in [({"d_model": 30, "n_heads": 4}, "divisible"), ({"num_inference_steps": 0}, "num_inference_steps"),
                              ({"time_beta_alpha": 0.0}, "Beta"), ({"dropout": 1.0}, "dropout"), ({"time_min": 1.0}, "time_min"),
                              ({"prediction_type": "epsilon"}, "prediction_type"), ({"conditioning": "film"}, "conditioning")]:
        with pytest.raises(HiwmError, match=needle) as info:
            make_policy("flow", **tiny_config("flow", **overrides))
        assert "\n" not in str(info.value)
