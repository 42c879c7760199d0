"""A closed-loop load generator for a served application (`tokenworks bench serve`).

`concurrency` clients each send one POST /v1/completions, wait for the answer, and send the next, until
`requests` have been sent in all. Latency is per request (send to full answer); requests/s is answered
requests over the wall time of the whole run. Every answer is counted by HTTP status; a request that got
no HTTP answer at all (refused, reset, timed out) is counted under its exception name.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx

DEFAULT_PROMPTS = ("def add(a, b):\n    return", "import os\n\n\ndef main():\n", "class Stack:\n    def push(self, x):",
                   "for i in range(10):\n", "def is_prime(n):\n    if n < 2:\n")


@dataclass
class RequestRecord:
    index: int
    status: str          # "200", "503", ... or the exception name when no HTTP answer came
    latency_s: float
    completion_tokens: int = 0


@dataclass
class LoadReport:
    url: str
    concurrency: int
    requests: int
    max_tokens: int
    wall_s: float
    requests_per_s: float
    latency_p50_s: float
    latency_p99_s: float
    completion_tokens_per_s: float
    status_counts: dict[str, int]
    errors: dict[str, int]            # every status other than 200, and transport failures
    records: list[RequestRecord] = field(default_factory=list, repr=False)

    def summary(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("records")
        return data


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated q-th percentile (0..100) of `values`; NaN when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


async def _client_loop(client: httpx.AsyncClient, url: str, next_index: list[int], total: int, body_of,
                       records: list[RequestRecord], on_done) -> None:
    while next_index[0] < total:
        index = next_index[0]
        next_index[0] += 1  # single-threaded event loop: no lock needed between the await points
        start = time.perf_counter()
        try:
            resp = await client.post(url, json=body_of(index))
            status, tokens = str(resp.status_code), _completion_tokens(resp)
        except httpx.HTTPError as exc:
            status, tokens = type(exc).__name__, 0
        records.append(RequestRecord(index, status, time.perf_counter() - start, tokens))
        on_done()


def _completion_tokens(resp: httpx.Response) -> int:
    if resp.status_code != 200:
        return 0
    try:
        return int(resp.json()["usage"]["completion_tokens"])
    except (ValueError, KeyError, TypeError):
        return 0


async def run_load(base_url: str, concurrency: int, requests: int, max_tokens: int = 16,
                   prompts: list[str] | None = None, model: str | None = None, timeout_s: float = 300.0,
                   progress: bool = True) -> LoadReport:
    """Send `requests` completions from `concurrency` concurrent clients to `base_url` and measure."""
    from tqdm import tqdm

    texts = list(prompts or DEFAULT_PROMPTS)
    url = base_url.rstrip("/") + "/v1/completions"

    def body_of(index: int) -> dict[str, Any]:
        body: dict[str, Any] = {"prompt": texts[index % len(texts)], "max_tokens": max_tokens}
        return {**body, "model": model} if model else body

    records: list[RequestRecord] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    with tqdm(total=requests, desc="bench serve", unit="req", disable=not progress) as bar:
        async with httpx.AsyncClient(timeout=timeout_s, limits=limits) as client:
            start = time.perf_counter()
            counter = [0]
            await asyncio.gather(*(_client_loop(client, url, counter, requests, body_of, records, bar.update)
                                   for _ in range(min(concurrency, requests))))
            wall = time.perf_counter() - start
    return summarize(base_url, concurrency, max_tokens, wall, records)


def summarize(url: str, concurrency: int, max_tokens: int, wall_s: float, records: list[RequestRecord]) -> LoadReport:
    counts: dict[str, int] = {}
    for r in records:
        counts[r.status] = counts.get(r.status, 0) + 1
    ok = [r for r in records if r.status == "200"]
    latencies = [r.latency_s for r in ok]
    return LoadReport(url=url, concurrency=concurrency, requests=len(records), max_tokens=max_tokens, wall_s=wall_s,
                      requests_per_s=len(ok) / wall_s if wall_s > 0 else 0.0,
                      latency_p50_s=percentile(latencies, 50), latency_p99_s=percentile(latencies, 99),
                      completion_tokens_per_s=sum(r.completion_tokens for r in ok) / wall_s if wall_s > 0 else 0.0,
                      status_counts=dict(sorted(counts.items())),
                      errors={k: v for k, v in sorted(counts.items()) if k != "200"}, records=records)
