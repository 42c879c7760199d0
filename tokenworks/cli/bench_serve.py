"""`tokenworks bench serve`: load a served application over HTTP and report throughput, latency, errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from tokenworks.cli.common import info, need, print_json, stdout_to_stderr
from tokenworks.cli.prompts_file import read_prompts
from tokenworks.errors import UserError


def bench_serve(
    url: str = typer.Option(..., "--url", metavar="URL", help="Base URL of the app, e.g. http://127.0.0.1:8000."),
    concurrency: int = typer.Option(8, "--concurrency", min=1, max=4096, help="Clients sending at once."),
    requests: int = typer.Option(64, "--requests", min=1, help="Requests in all."),
    max_tokens: int = typer.Option(16, "--max-tokens", min=1, help="max_tokens of every request."),
    model: Optional[str] = typer.Option(None, "--model", metavar="ID", help="The `model` field (an id from "
                                        "/v1/models; default: the server's first)."),
    prompts: Optional[Path] = typer.Option(None, "--prompts", metavar="FILE.jsonl",
                                           help='JSON lines with a "prompt" field; default: five code prompts.'),
    timeout: float = typer.Option(300.0, "--timeout", min=0.1, help="Seconds one request may take."),
    as_json: bool = typer.Option(False, "--json", help="Print only JSON: requests_per_s, latency_p50_s, "
                                 "latency_p99_s, status_counts, errors, ..."),
) -> None:
    """Closed-loop load: --concurrency clients each send a completion and wait for it, --requests in all.
    Prints requests/s, p50/p99 latency of the 200 answers, completion tokens/s and counts by HTTP status
    (503 = the server shed load; a transport failure is counted under its exception name).

    **Examples**

    ```
    tokenworks serve decoder greedy --preset micro --port 8000 &
    tokenworks bench serve --url http://127.0.0.1:8000 --concurrency 16 --requests 128 --max-tokens 16
    ```
    """
    import asyncio

    import httpx

    run_load = need("tokenworks.platform.serve_app.load", "run_load", purpose="`tokenworks bench serve`")
    texts = read_prompts(prompts) if prompts is not None else None
    base = url.rstrip("/")
    try:
        httpx.get(f"{base}/v1/models", timeout=min(timeout, 30.0)).raise_for_status()
    except httpx.HTTPError as exc:
        raise UserError(f"--url {url!r}: no tokenworks app answers GET /v1/models there ({exc}).") from None
    with stdout_to_stderr(as_json):
        report = asyncio.run(run_load(base, concurrency, requests, max_tokens, texts, model, timeout,
                                      progress=not as_json))
        run_id = _log(report)
    if as_json:
        print_json(report.summary())
    else:
        typer.echo(format_report(report))
    info(f"logged to MLflow run {run_id}" if run_id else "MLflow unavailable; bench not logged")


def format_report(report: Any) -> str:
    errors = ", ".join(f"{status}: {n}" for status, n in report.errors.items()) or "none"
    return (f"{report.requests} requests, concurrency {report.concurrency}, max_tokens {report.max_tokens}, "
            f"{report.wall_s:.2f} s\n"
            f"  requests/s        {report.requests_per_s:.2f}\n"
            f"  latency p50       {report.latency_p50_s * 1000:.0f} ms\n"
            f"  latency p99       {report.latency_p99_s * 1000:.0f} ms\n"
            f"  completion tok/s  {report.completion_tokens_per_s:.1f}\n"
            f"  status counts     {', '.join(f'{s}: {n}' for s, n in report.status_counts.items())}\n"
            f"  errors            {errors}")


def _log(report: Any) -> str | None:
    try:
        log_bench = need("tokenworks.platform.tracking", "log_bench", purpose="logging the bench to MLflow")
        summary = report.summary()
        metrics = {k: v for k, v in summary.items() if isinstance(v, float)}
        metrics.update({f"status_{s}": float(n) for s, n in report.status_counts.items()})
        params = {"url": report.url, "concurrency": report.concurrency, "requests": report.requests,
                  "max_tokens": report.max_tokens}
        per_request = [{"index": r.index, "status": r.status, "latency_s": r.latency_s,
                        "completion_tokens": r.completion_tokens} for r in report.records]
        return log_bench(name="serve", params=params, rows={"serve": metrics}, per_sample=per_request)
    except Exception as exc:  # noqa: BLE001 - the measurement is printed either way
        info(f"MLflow logging failed: {exc}")
        return None
