"""`tokenworks serve r2r|s2d|decoder SLUG`: start a Ray Serve application and keep it up until Ctrl-C."""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any, Optional

import typer

from tokenworks.cli.common import fail, info, need, warn
from tokenworks.errors import UserError, close_matches

APPS = ("decoder", "r2r", "s2d")
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def serve_command(
    app_name: str = typer.Argument(..., metavar="APP", help="decoder (then SLUG), r2r or s2d."),
    slug: Optional[str] = typer.Argument(None, metavar="[SLUG]", help="For `decoder`: a registered decoder "
                                         "(`tokenworks bench decoding --help` lists them), e.g. greedy."),
    model: Optional[str] = typer.Option(None, "--model", metavar="M", help="For `decoder`: zoo name, local "
                                        "model directory or HF id (default: the preset's model)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to bind. Anything but loopback exposes an "
                             "unauthenticated endpoint."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="HTTP port."),
    config: Optional[Path] = typer.Option(None, "--config", metavar="FILE", help="YAML/JSON ServeConfig keys: "
                                          "replicas, max_ongoing_requests, max_queued_requests, num_cpus, device, "
                                          "backend, targets, max_tokens_limit, method_options, ..."),
    preset: str = typer.Option("tiny", "--preset", help="micro (tests, seconds), tiny (CPU default) or paper."),
    set_options: Optional[list[str]] = typer.Option(None, "--set", metavar="KEY=VALUE",
                                                    help="Override one config key (repeatable), e.g. replicas=2."),
) -> None:
    """Serve a method behind OpenAI-style `POST /v1/completions` and `GET /v1/models` (Ray Serve).

    `usage` in each answer carries the method's statistics (mean acceptance length, tokens from the large
    model, ...). Blocks until Ctrl-C, then shuts the application down.

    **Examples**

    ```
    tokenworks serve decoder greedy --model code-lm-micro --port 8000
    tokenworks serve decoder token-recycling --preset micro --set replicas=2
    tokenworks serve r2r --preset micro
    tokenworks serve s2d --preset micro --set 'targets=["task-lm-large"]'
    curl -s localhost:8000/v1/completions -H 'content-type: application/json' \\
         -d '{"prompt": "def add(a, b):", "max_tokens": 16}'
    ```
    """
    cfg = serve_config(app_name, slug, model, config, preset, set_options or [])
    serve_app = need("tokenworks.platform.serve_app", purpose="`tokenworks serve`")
    if host not in LOOPBACK:
        warn(f"binding {host}: the endpoint has no authentication; anyone who reaches this port can use it.")
    if not os.environ.get("RAY_ADDRESS"):
        check_port_free(host, port)
    if cfg.app == "decoder":
        prebuild(cfg.model)
    run_until_interrupted(serve_app, cfg, host, port)


def run_until_interrupted(serve_app: Any, cfg: Any, host: str, port: int) -> None:
    """Deploy, print the endpoints, block until Ctrl-C or SIGTERM (also while deploying: a shell starts
    `tokenworks serve &` with SIGINT ignored, so both are bound explicitly), and always clean up."""
    signal.signal(signal.SIGINT, _raise_interrupt)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        url = serve_app.start_app(cfg, host=host, port=port)
        print_endpoints(cfg, url)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        info("stopping ...")
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - Serve reports a failed deployment as a RuntimeError
        fail(f"the application did not start: {exc}", 1)
    finally:
        stop_serving()


def serve_config(app_name: str, slug: str | None, model: str | None, config: Path | None, preset: str,
                 set_options: list[str]) -> Any:
    """Check the arguments and build the ServeConfig before Ray starts; UserError naming what is wrong."""
    from tokenworks.config import parse_set_options
    from tokenworks.platform.serve_app.config import load_serve_config

    if app_name not in APPS:
        raise UserError(f"unknown app {app_name!r}; allowed: {', '.join(APPS)}." + close_matches(app_name, APPS))
    overrides: dict[str, Any] = {"app": app_name}
    if app_name == "decoder":
        if not slug:
            raise UserError("app 'decoder' needs a SLUG, the decoder to serve (e.g. `tokenworks serve decoder "
                            "greedy`).")
        overrides["method"] = slug
        if model:
            overrides["model"] = model
    elif slug or model:
        raise UserError(f"app {app_name!r} takes no SLUG or --model (got {slug or model!r}): its models come from "
                        "--preset and its config.")
    overrides.update(parse_set_options(set_options))
    cfg = load_serve_config(preset, str(config) if config else None, overrides)
    if cfg.app == "decoder":
        from tokenworks.methods.decoding.registry import decoder_config

        decoder_config(cfg.method, **cfg.method_options)  # unknown decoder / bad option: fail now
        from tokenworks.platform.serve_app.app import decoder_backend

        decoder_backend(cfg)  # backend vllm without vLLM, or for a non-greedy method: fail before Ray starts
    return cfg


def check_port_free(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            raise UserError(f"--port {port} on --host {host} cannot be used: {exc.strerror}. "
                            "Pick another port.") from None


def prebuild(model: str) -> None:
    """Build a zoo model here, with its progress bar, before replicas start and wait on it."""
    from tokenworks.zoo.load import resolve

    resolve(model)


def print_endpoints(cfg: Any, url: str) -> None:
    import httpx

    try:
        ids = [m["id"] for m in httpx.get(f"{url}/v1/models", timeout=120).json()["data"]]
    except (httpx.HTTPError, KeyError, ValueError) as exc:
        ids = [f"(could not list: {exc})"]
    what = f"decoder {cfg.method} over {cfg.model}" if cfg.app == "decoder" else f"{cfg.app} ({cfg.preset})"
    typer.echo(f"serving {what} at {url}\n"
               f"  POST {url}/v1/completions\n"
               f"  GET  {url}/v1/models\n"
               f"  models: {', '.join(ids)}\n"
               "Press Ctrl-C to stop.")
    sys.stdout.flush()


def stop_serving() -> None:
    """Remove our application: on a cluster named by RAY_ADDRESS only ours (others may serve there too),
    on the private local instance everything, Ray included."""
    import ray
    from ray import serve

    from tokenworks.platform.ray_session import shutdown_ray
    from tokenworks.platform.serve_app import APP_NAME

    if not ray.is_initialized():
        return
    try:
        if os.environ.get("RAY_ADDRESS"):
            serve.delete(APP_NAME)
        else:
            serve.shutdown()
    finally:
        shutdown_ray()


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt
