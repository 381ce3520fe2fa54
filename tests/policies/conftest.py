"""Fixtures for the policy tests: every registered policy type, single-threaded torch."""

from __future__ import annotations

import pytest
import torch

from hiwm.policies import POLICIES


@pytest.fixture(params=POLICIES.names())
def policy_type(request) -> str:
    return request.param


@pytest.fixture(autouse=True, scope="module")
def _single_thread():
    # Tiny models gain nothing from intra-op threads, and on a shared 2-core machine OpenMP
    # barriers made them several times slower; the tests measure behaviour, not speed.
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
