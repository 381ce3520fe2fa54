"""Fixtures for the policy tests: every registered policy type x every observation kind, single-threaded torch."""

from __future__ import annotations

import pytest
import torch

from hiwm.policies import POLICIES
from policy_fixtures import OBS_KINDS


@pytest.fixture(params=POLICIES.names())
def policy_type(request) -> str:
    return request.param


@pytest.fixture(params=list(OBS_KINDS))
def obs_kind(request) -> str:
    """state: low-dim only; image: camera only; both: agent state + camera."""
    return request.param


@pytest.fixture(autouse=True, scope="module")
def _single_thread():
    # Tiny models gain nothing from intra-op threads, and on a shared 2-core machine OpenMP
    # barriers made them several times slower; the tests measure behaviour, not speed.
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
