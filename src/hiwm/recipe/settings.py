"""The recipe: every setting of a Hi-WM run, in one typed tree with its defaults in one place.

    RunConfig
      task, seed, device, real_hg_dagger
      data                 DataConfig          what is recorded in the simulator
      policy               PolicyConfig        the backbone (registered by ``type``: diffusion, flow)
      policy_training      TrainingConfig      the base policy's training
      world_model          WorldModelConfig    the model kind (registered by ``type``: ensemble, chain)
      world_model_training TrainingConfig
      operator             OperatorConfig      the scripted operator's H, r, K, B and when it takes over
      finetune             FinetuneConfig      every post-trained variant's fine-tune (the same for all)
      wm_cl                WMCLConfig          the world-model closed-loop baseline
      evaluation           EvaluationConfig

A task's tuned values are a preset (``presets/<task>.json``), applied over these defaults; every command
builds its config the same way (``recipe.resolve``), so a stage command runs what ``hiwm run`` runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hiwm.errors import HiwmError
from hiwm.policies import POLICIES
from hiwm.policies.base import PolicyConfig
from hiwm.policies.diffusion.configuration import DiffusionConfig
from hiwm.policies.expert import OUTSIDERS
from hiwm.recipe.tree import register_family
from hiwm.session.operators import OperatorConfig
from hiwm.world_models import WORLD_MODELS, EnsembleConfig, WorldModelConfig

# the policy's action and input sizes come from the task, its device from --device: not recipe settings
register_family(PolicyConfig, lambda name: POLICIES.get(name).config_class, ("action_dim", "feature_dims", "device"))
register_family(WorldModelConfig, lambda name: WORLD_MODELS.get(name).config_class, ("task",))


@dataclass
class DataConfig:
    """Simulator ("real world") episodes: seeds from the protocol's ranges (pipeline.SEEDS)."""

    expert_episodes: int = 40  # the base policy's demonstrations
    play_episodes: int = 100  # scripted play with perturbations and failures, for the world model
    # the base policy acting with play stretches, for the world model: the states where it fails and corrections
    # start (reports/pusht-diffusion-state)
    policy_play_episodes: int = 50
    episode_steps: int = 0  # steps per episode everywhere; 0: the task's own limit (Push-T 300)


@dataclass
class TrainingConfig:
    """One training run of the shared loop (training/loop.py)."""

    steps: int = 6000
    batch_size: int = 64  # the global batch: under torchrun it is split over the processes
    lr: float = 1e-3
    log_every: int = 100  # loss history interval in steps (train.json)


@dataclass
class FinetuneConfig(TrainingConfig):
    """Post-training from the base checkpoint on demonstrations + the method's new data (the same for every variant)."""

    steps: int = 3000
    lr: float = 1e-3 / 3
    new_data_weight: float = 0.5  # share of each batch drawn from the method's new data
    # Hi-WM also trains on a successful branch's imagined recovery after the hand-back (off for Push-T: preset)
    recoveries: bool = True


@dataclass
class WMCLConfig:
    """World-model closed loop: the base rolled out in the model from Hi-WM's initial states, the judged successes kept."""

    rollouts: int = 100
    # its own fine-tuning, where it differs from Hi-WM's (None: finetune's); the steps are the same for every method
    lr: float | None = None
    new_data_weight: float | None = None


@dataclass
class EvaluationConfig:
    episodes: int = 100  # per method, in the simulator and in the world model
    first_seed: int = 100_000  # the held-out seeds; 9 000 (the validation range) when tuning
    accuracy_episodes: int = 20  # held-out episodes replayed open loop to measure the world model's error
    # More points for judging the world model as an evaluator (reports/experiment): the base saved at these
    # fractions of its training, and policies nobody trained for the task (policies/expert.py OUTSIDERS).
    checkpoints: tuple[float, ...] = ()
    outsiders: tuple[str, ...] = ()

    def __post_init__(self):
        if any(not 0 < f < 1 for f in self.checkpoints):
            raise HiwmError(f"evaluation.checkpoints are fractions of the base's training in (0, 1), got {self.checkpoints}")
        if unknown := [n for n in self.outsiders if n not in OUTSIDERS]:
            raise HiwmError(f"unknown evaluation.outsiders {unknown} (known: {', '.join(OUTSIDERS)})")


def _policy() -> PolicyConfig:
    return DiffusionConfig()


def _world_model() -> WorldModelConfig:
    return EnsembleConfig()


@dataclass
class RunConfig:
    task: str = "pusht"
    seed: int = 0  # the run's seed: data ranges, initial weights and sampling all follow it
    device: str = "cpu"
    real_hg_dagger: bool = False  # also the Real HG-DAgger reference: the same operator budget spent in the simulator
    data: DataConfig = field(default_factory=DataConfig)
    policy: PolicyConfig = field(default_factory=_policy)
    policy_training: TrainingConfig = field(default_factory=TrainingConfig)
    world_model: WorldModelConfig = field(default_factory=_world_model)
    world_model_training: TrainingConfig = field(default_factory=lambda: TrainingConfig(steps=2000, batch_size=128))
    operator: OperatorConfig = field(default_factory=OperatorConfig)
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    wm_cl: WMCLConfig = field(default_factory=WMCLConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
