"""Flow-matching transformer backbone (pi0-style action expert); importing registers "flow"."""

from hiwm.policies.flow.configuration import FlowConfig
from hiwm.policies.flow.modeling import FlowPolicy

__all__ = ["FlowConfig", "FlowPolicy"]
