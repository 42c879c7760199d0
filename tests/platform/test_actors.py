"""actor_options() maps devices to Ray resources; DecoderActor builds its decoder once and serves calls."""

from __future__ import annotations

import pytest

from tokenworks.methods.decoding.base import DecodeStats, Generation
from tokenworks.platform.actors import DecoderActor, actor_options, config_device


class CountingDecoder:
    """Echoes the prompt back; counts how often it was built (it must be once per actor)."""

    name = "echo"
    builds = 0

    def __init__(self) -> None:
        CountingDecoder.builds += 1
        self.builds_seen = CountingDecoder.builds

    def decode(self, prompt_ids, max_new_tokens):
        ids = list(prompt_ids)[:max_new_tokens]
        return Generation(ids, DecodeStats(new_tokens=len(ids), target_forwards=len(ids) + 1,
                                           accepted_per_step=[0] * len(ids)))


def test_actor_options_follow_the_device(local_ray):
    assert actor_options(1, "cpu") == {"num_cpus": 1, "num_gpus": 0}
    assert actor_options(2, "cuda") == {"num_cpus": 2, "num_gpus": 1}
    has_gpu = local_ray.cluster_resources().get("GPU", 0) > 0
    assert actor_options(1)["num_gpus"] == (1 if has_gpu else 0)
    with pytest.raises(ValueError, match="device"):
        actor_options(1, "tpu")


def test_config_device_reads_an_optional_field():
    class Cfg:
        device = "cuda"

    assert config_device(Cfg()) == "cuda" and config_device(object()) == "auto"


def test_decoder_actor_builds_once_and_serves_many_calls(local_ray):
    actor = DecoderActor.options(**actor_options(1, "cpu")).remote(CountingDecoder, num_threads=1)
    try:
        first = local_ray.get(actor.decode.remote([5, 6, 7], 2))
        second = local_ray.get(actor.decode.remote([9], 4))
        assert first["ids"] == [5, 6] and second["ids"] == [9]
        assert first["stats"]["target_forwards_per_token"] == 1.5
        assert first["stats"]["mean_acceptance_length"] == 1.0
        assert local_ray.get(actor.name.remote()) == "echo"
        assert local_ray.get(actor.__ray_call__.remote(lambda self: self.decoder.builds_seen)) == 1
    finally:
        local_ray.kill(actor)
