"""Studio fixtures (helpers in studio_helpers.py)."""

from __future__ import annotations

import pytest
from studio_helpers import make_studio

from hiwm.studio.core import Studio


@pytest.fixture
def studio(tmp_path, policy, world_model) -> Studio:
    return make_studio(policy, world_model, tmp_path / "session")
