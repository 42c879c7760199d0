"""Ray actors that load their models once and serve many calls; Ray's scheduler places them.

`actor_options()` turns "does this cluster have a GPU, how many threads" into Ray resources: one GPU per actor
where the cluster has CUDA devices, CPU otherwise. An actor reserves `num_cpus` logical CPUs and runs torch
with as many threads, so several actors sharing a machine do not oversubscribe its cores.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Sequence

import ray

from tokenworks.pipelines.base import Reproduction, Result, RunContext


def cluster_has_gpu() -> bool:
    return ray.is_initialized() and ray.cluster_resources().get("GPU", 0) > 0


def actor_options(num_cpus: int = 1, device: str = "auto") -> dict[str, Any]:
    """Ray resources for one model-holding actor. device: 'auto' (GPU when the cluster has one), 'cpu', 'cuda'."""
    if device not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device {device!r} not in ('auto', 'cpu', 'cuda')")
    gpus = 1 if device == "cuda" or (device == "auto" and cluster_has_gpu()) else 0
    return {"num_cpus": num_cpus, "num_gpus": gpus}


def config_device(cfg: Any) -> str:
    """A config may pin `device`; anything else lets the cluster decide."""
    value = str(getattr(cfg, "device", "auto") or "auto")
    return value if value in ("cpu", "cuda") else "auto"


@ray.remote
class ReproductionActor:
    """Runs one reproduction in a worker and hands back its Result plus the bytes of every file it wrote,
    so the driver can log them even when the actor ran on another node."""

    def __init__(self, num_threads: int | None = 1) -> None:
        """num_threads: torch threads; None = every core of this node (or $TOKENWORKS_THREADS)."""
        from tokenworks.platform.zoo_tracking import enable_zoo_tracking
        from tokenworks.runtime import configure_threads

        self.num_threads = configure_threads(num_threads)
        enable_zoo_tracking()  # a model trained for this reproduction gets its own MLflow run

    def run(self, repro: Reproduction, cfg: Any, progress: bool = True) -> tuple[Result, dict[str, bytes]]:
        workdir = Path(tempfile.mkdtemp(prefix=f"tokenworks-{repro.slug}-"))
        try:
            ctx = RunContext(workdir=workdir, progress=print if progress else _silent,
                             num_threads=self.num_threads)
            result = repro.run(cfg, ctx)
            return result, collect_files(result)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)


def collect_files(result: Result) -> dict[str, bytes]:
    """'plots/<name>.png' and 'artifacts/<file name>' -> contents, for every file the result names."""
    files = {f"plots/{name}{Path(p).suffix or '.png'}": Path(p).read_bytes() for name, p in result.plots.items()}
    files.update({f"artifacts/{Path(p).name}": Path(p).read_bytes() for p in result.artifacts.values()})
    return files


def place_files(result: Result, files: dict[str, bytes], local_dir: Path) -> Result:
    """Write the actor's files under `local_dir` and point the Result's paths at them."""
    for rel, data in files.items():
        path = local_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    result.plots = {name: local_dir / f"plots/{name}{Path(p).suffix or '.png'}" for name, p in result.plots.items()}
    result.artifacts = {name: local_dir / f"artifacts/{Path(p).name}" for name, p in result.artifacts.items()}
    return result


@ray.remote
class DecoderActor:
    """Holds one Decoder (and its model) for many `decode` calls.

    `build` is a zero-argument callable returning the Decoder, run once inside the actor, so the model is
    loaded where it will be used (see `zoo_decoder`).
    """

    def __init__(self, build: Callable[[], Any], num_threads: int = 1) -> None:
        from tokenworks.runtime import configure_threads

        configure_threads(num_threads)
        self.decoder = build()

    def decode(self, prompt_ids: Sequence[int], max_new_tokens: int) -> dict[str, Any]:
        """prompt_ids: [T] token ids -> {'ids': [N] generated ids, 'stats': DecodeStats.as_dict()}."""
        return generation_dict(self.decoder.decode(list(prompt_ids), max_new_tokens))

    def name(self) -> str:
        return self.decoder.name


def generation_dict(gen: Any) -> dict[str, Any]:
    return {"ids": [int(i) for i in gen.ids], "stats": gen.stats.as_dict()}


def zoo_decoder(method: str, model: str) -> Any:
    """The registered Decoder `method` over the zoo language model `model` (built and cached on first use)."""
    from tokenworks.methods.decoding.registry import make_decoder
    from tokenworks.zoo import load_lm

    lm, tokenizer = load_lm(model)
    return make_decoder(method, lm, tokenizer)


def _silent(_: str) -> None:
    return None
