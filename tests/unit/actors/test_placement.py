"""Where the shard actors may run: anywhere, or only on the Ray nodes that offer
``SWITCH_SHARD_RESOURCE`` (actors/runtime.py ``shard_options``)."""

from __future__ import annotations

import pytest

from actors.runtime import ACTOR_OPTIONS, shard_options
from switch.config import from_env
from switch.errors import ConfigError


def test_without_a_shard_resource_shards_take_the_common_options() -> None:
    assert shard_options(from_env({})) == ACTOR_OPTIONS
    assert "resources" not in ACTOR_OPTIONS  # the other actors never need it


def test_a_shard_resource_asks_one_unit_of_it_and_keeps_the_rest() -> None:
    options = shard_options(from_env({"SWITCH_SHARD_RESOURCE": "switch_shards"}))
    assert options["resources"] == {"switch_shards": 1}
    assert {k: v for k, v in options.items() if k != "resources"} == ACTOR_OPTIONS
    assert options["scheduling_strategy"] == "SPREAD"  # still spread over those nodes
    assert "resources" not in ACTOR_OPTIONS  # not changed in place


@pytest.mark.parametrize("bad", ["1shards", "shards-x", "a b", "x" * 61])
def test_a_bad_resource_name_is_refused_naming_the_variable(bad: str) -> None:
    with pytest.raises(ConfigError, match="SWITCH_SHARD_RESOURCE"):
        from_env({"SWITCH_SHARD_RESOURCE": bad})
