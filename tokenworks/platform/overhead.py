"""`tokenworks bench overhead`: what the platform adds over calling a decoder directly. Target <= 5%.

The same greedy decode (same model, same prompt, same thread count) is timed in-process and through a
DecoderActor with an MLflow run open around the calls. Arms alternate call by call so that load from other
processes hits both alike; warm-up calls are excluded; medians are compared. Tracking logs once per run, not
per decode (that is how reproductions use it), so its one-off cost is reported beside the ratio.
"""

from __future__ import annotations

import functools
import statistics
import time
from typing import Any, Callable

from tokenworks.platform.actors import generation_dict


def measure_overhead(model: str = "code-lm-micro", max_new_tokens: int = 64, repeats: int = 5) -> dict:
    """{'in_process_s', 'actor_s' (medians per decode), 'overhead_ratio' (actor / in-process - 1), ...}."""
    import ray
    import torch

    from tokenworks.platform import tracking
    from tokenworks.platform.actors import DecoderActor, actor_options, zoo_decoder
    from tokenworks.platform.ray_session import ensure_ray
    from tokenworks.zoo import code_prompts

    from tokenworks.methods.decoding.registry import make_decoder
    from tokenworks.zoo import load_lm

    lm, tokenizer = load_lm(model)
    decoder = make_decoder("greedy", lm, tokenizer)
    prompt_ids = list(tokenizer(code_prompts(tokenizer, 1)[0])["input_ids"])
    build = functools.partial(zoo_decoder, "greedy", model)
    threads = torch.get_num_threads()
    ensure_ray()
    actor = DecoderActor.options(**actor_options(1)).remote(build, num_threads=threads)
    local_call = functools.partial(decoder.decode, prompt_ids, max_new_tokens)

    def remote_call():
        return ray.get(actor.decode.remote(prompt_ids, max_new_tokens))

    try:
        reference, via_actor = generation_dict(local_call()), remote_call()   # warm-up, and the same tokens?
        with tracking.start_run("bench-overhead", f"overhead-{model}", tags=tracking.standard_tags()) as run:
            local_s, actor_s = alternate_timings(local_call, remote_call, repeats)
            t0 = time.perf_counter()
            run.log_params({"model": model, "max_new_tokens": max_new_tokens, "repeats": repeats,
                            "threads": threads})
            run.log_metrics({"in_process_s": statistics.median(local_s), "actor_s": statistics.median(actor_s)})
            tracking_s = time.perf_counter() - t0
    finally:
        ray.kill(actor)
    result = summarise(local_s, actor_s)
    result.update(tracking_s=tracking_s, new_tokens=len(reference["ids"]), threads=threads,
                  same_tokens=reference["ids"] == via_actor["ids"], run_id=run.run_id)
    print(f"overhead: actor {result['actor_s']:.4f}s vs in-process {result['in_process_s']:.4f}s per "
          f"{result['new_tokens']}-token decode -> {result['overhead_ratio']:+.1%} (target <= 5%); "
          f"tracking {tracking_s:.3f}s once per run")
    return result


def alternate_timings(first: Callable[[], Any], second: Callable[[], Any], repeats: int) -> tuple[list, list]:
    """Wall seconds of `repeats` calls of each, interleaved first/second."""
    a, b = [], []
    for _ in range(repeats):
        for fn, out in ((first, a), (second, b)):
            t0 = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t0)
    return a, b


def summarise(local_s: list[float], actor_s: list[float]) -> dict[str, float]:
    local, remote = statistics.median(local_s), statistics.median(actor_s)
    return {"in_process_s": local, "actor_s": remote, "overhead_ratio": remote / local - 1.0,
            "overhead_s": remote - local}
