"""Compatibility shim: the serving code lives in `tokenworks.platform.serve_app`.

`tokenworks.platform.serving:build_app` stays a valid Serve import path (RayService manifests, `serve run`),
and `serve_decoder` keeps its signature for notebooks and tests.
"""

from __future__ import annotations

from tokenworks.platform.serve_app import build_app, load_serve_config, start_app

__all__ = ["build_app", "serve_decoder"]


def serve_decoder(method: str = "greedy", model: str = "code-lm-micro", port: int = 8000) -> str:
    """Serve the registered decoder `method` over `model` on 127.0.0.1:`port`; returns the base URL."""
    cfg = load_serve_config("micro", None, {"app": "decoder", "method": method, "model": model})
    return start_app(cfg, port=port)
