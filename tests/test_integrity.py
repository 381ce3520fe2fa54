"""The one config validator: any dataclass's annotated field types, as config.json gives them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Optional

import pytest

from hiwm.errors import CheckpointError
from hiwm.integrity import check_config_types


@dataclass
class Example:
    n: int = 1
    x: float = 0.5
    flag: bool = False
    name: str = ""
    dims: tuple[int, ...] = (1, 2)
    pair: tuple[int, str] = (1, "a")
    names: list[str] = field(default_factory=list)
    sizes: dict[str, int] = field(default_factory=dict)
    maybe: Optional[int] = None
    either: int | str = 0
    mode: Literal["a", "b"] = "a"


GOOD = {"n": 3, "x": 2, "flag": True, "name": "s", "dims": [4, 5, 6], "pair": [2, "b"], "names": ["p"],
        "sizes": {"k": 2}, "maybe": None, "either": "text", "mode": "b", "not_a_field": object()}
BAD = {"n": "3", "x": "0.5", "flag": 0, "name": 1, "dims": "big", "pair": [1, 2], "names": "p", "sizes": {"k": 1.5},
       "maybe": "1", "either": 1.5, "mode": "c"}


def test_good_values_pass():
    check_config_types(Path("c.json"), Example, GOOD)


@pytest.mark.parametrize("key", list(BAD))
def test_each_bad_value_names_the_file_and_field(key):
    with pytest.raises(CheckpointError) as info:
        check_config_types(Path("dir/c.json"), Example, {**GOOD, key: BAD[key]})
    text = str(info.value)
    assert text.startswith("dir/c.json: field ") and f"'{key}'" in text and "\n" not in text


def test_non_finite_numbers_and_bools_for_numbers_are_refused():
    for value in (float("nan"), float("inf"), True):
        with pytest.raises(CheckpointError, match="'x'"):
            check_config_types(Path("c.json"), Example, {"x": value})
