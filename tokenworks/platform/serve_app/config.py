"""The typed config of a served application: which models, how many replicas, how much queueing, what limits.

One `ServeConfig` per application (`tokenworks serve APP --config FILE --preset P --set key=value`). Keys are
flat; `method_options.*` keys go to the method's own factory unchanged (decoder options for `decoder SLUG`,
R2R / S2D options for those apps), so they are validated there, not here.

Queueing, in Ray Serve's terms: a model replica accepts `max_ongoing_requests` requests at once and decodes
them one after another (our decoders keep per-call state and are not thread-safe; see model_server.py for
why the replica still keeps a local queue); each caller (the ingress replica) queues at most
`max_queued_requests` more for that deployment before Serve raises `BackPressureError`, which the ingress
answers with 503. The ingress itself is async and only waits on handles, so it takes many requests at once;
the HTTP proxy answers 503 beyond `ingress_max_queued_requests`.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from tokenworks.config import TokenworksConfig, load_config_file
from tokenworks.errors import UserError

APPS = ("decoder", "r2r", "s2d")
METHOD_OPTION_PREFIX = "method_options."


class ServeConfig(TokenworksConfig):
    app: Literal["decoder", "r2r", "s2d"] = "decoder"
    method: str = "greedy"                 # decoder app: the registered decoder (make_decoder name)
    model: str = "code-lm-tiny"            # decoder app: zoo name, local directory or HF id
    preset: Literal["micro", "tiny", "paper"] = "tiny"   # r2r / s2d: which of the method's model sets
    targets: list[str] = Field(default_factory=list)     # s2d: serve only these targets (empty: all)
    backend: Literal["native", "vllm", "auto"] = "native"  # vllm/auto: plain greedy targets on a vLLM engine
    method_options: dict[str, Any] = Field(default_factory=dict)

    replicas: int = Field(1, ge=1, le=64)                  # per model deployment
    max_ongoing_requests: int = Field(64, ge=1, le=4096)   # per model replica (decoded one at a time)
    max_queued_requests: int = Field(256, ge=-1)           # per caller and model deployment; -1: unbounded
    num_cpus: float = Field(1.0, ge=0.0, le=256.0)         # per model replica; torch threads = max(1, int)
    device: Literal["auto", "cpu", "cuda"] = "auto"        # auto: one GPU per model replica where CUDA exists
    ingress_replicas: int = Field(1, ge=1, le=64)
    ingress_max_ongoing_requests: int = Field(256, ge=1, le=100_000)
    ingress_max_queued_requests: int = Field(1024, ge=-1)

    max_tokens_limit: int = Field(1024, ge=1, le=1_000_000)   # largest max_tokens a request may ask for
    max_prompts: int = Field(32, ge=1, le=4096)               # prompts in one request (prompt given as a list)
    max_body_bytes: int = Field(1_000_000, ge=1024, le=100_000_000)  # larger bodies get 413

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "micro": {"model": "code-lm-micro", "preset": "micro", "max_tokens_limit": 256},
        "tiny": {"model": "code-lm-tiny", "preset": "tiny"},
        "paper": {"preset": "paper"},
    }

    def factory_options(self) -> dict[str, Any]:
        """What the method's `served_models(options)` gets (targets are added per S2D deployment)."""
        if self.app == "decoder":
            return {"method": self.method, "model": self.model, "method_options": dict(self.method_options)}
        return {"preset": self.preset, **self.method_options}


def load_serve_config(preset: str = "tiny", config_file: str | None = None,
                      overrides: dict[str, Any] | None = None) -> ServeConfig:
    """Preset, then the file's keys, then `overrides` (CLI flags); UserError naming any bad key or value."""
    flat: dict[str, Any] = load_config_file(config_file) if config_file else {}
    flat.update(overrides or {})
    method_options = {k[len(METHOD_OPTION_PREFIX):]: v for k, v in flat.items() if k.startswith(METHOD_OPTION_PREFIX)}
    flat = {k: v for k, v in flat.items() if not k.startswith(METHOD_OPTION_PREFIX)}
    if isinstance(flat.get("method_options"), dict):  # given whole (JSON / a `--set` value)
        method_options = {**flat.pop("method_options"), **method_options}
    cfg = ServeConfig.from_preset(preset, flat)
    cfg.method_options = method_options
    if cfg.app != "decoder" and cfg.backend == "vllm":
        raise UserError(f"backend 'vllm' serves plain greedy targets only (app decoder greedy), not app {cfg.app!r}.")
    return cfg
