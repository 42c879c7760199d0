"""`tokenworks serve` as a user runs it: bad arguments fail before Ray starts (`error:` line, exit 2); a real
run prints its URL and endpoints, answers over HTTP, and shuts down cleanly on Ctrl-C (SIGINT)."""

from __future__ import annotations

import importlib.util
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from platform_helpers import free_port
from typer.testing import CliRunner

from tokenworks.cli import app

TOKENWORKS = [sys.executable, "-c", "from tokenworks.cli import main; main()"]


@pytest.mark.parametrize("args, words", [
    (["serve", "nope"], "unknown app 'nope'"),
    (["serve", "decoder"], "needs a SLUG"),
    (["serve", "decoder", "no-such-decoder", "--preset", "micro"], "unknown decoder"),
    (["serve", "r2r", "--model", "code-lm-micro"], "takes no SLUG or --model"),
    (["serve", "decoder", "greedy", "--set", "replicas=0"], "replicas"),
    (["serve", "decoder", "greedy", "--set", "max_queued=3"], "unknown config key"),
    (["serve", "decoder", "greedy", "--preset", "huge"], "preset 'huge'"),
    (["serve", "decoder", "greedy", "--config", "/no/such/file.yaml"], "does not exist"),
    (["serve", "decoder", "greedy", "--set", "method_options.topk=8"], "unknown option 'topk'"),
    (["serve", "decoder", "token-recycling", "--set", "backend=vllm"], "plain greedy targets only"),
])
def test_bad_arguments_fail_before_anything_starts(args, words):
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "error:" in result.output and words in result.output


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vLLM is installed here")
def test_backend_vllm_without_vllm_fails_before_ray_starts():
    result = CliRunner().invoke(app, ["serve", "decoder", "greedy", "--set", "backend=vllm"])
    assert result.exit_code == 2, result.output
    assert "error:" in result.output and "needs vLLM" in result.output


def test_a_busy_port_is_refused_with_a_readable_error(monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        result = CliRunner().invoke(app, ["serve", "decoder", "greedy", "--preset", "micro", "--port", str(port)])
    assert result.exit_code == 2 and f"--port {port}" in result.output


def _lines(stream, out: queue.Queue) -> None:
    for line in stream:
        out.put(line)


@pytest.mark.integration
def test_serve_prints_endpoints_answers_and_stops_on_ctrl_c(tmp_path: Path):
    port = free_port()
    config = tmp_path / "serve.yaml"
    config.write_text("num_cpus: 0.5\nmax_queued_requests: 64\n")
    env = {**os.environ, "TOKENWORKS_RAY_CPUS": "1", "TOKENWORKS_THREADS": "1"}
    proc = subprocess.Popen(TOKENWORKS + ["serve", "decoder", "greedy", "--preset", "micro", "--port", str(port),
                                          "--config", str(config)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=_lines, args=(proc.stdout, lines), daemon=True).start()
    printed = []
    try:
        deadline = time.monotonic() + 180
        while not any("Ctrl-C" in line for line in printed):
            assert proc.poll() is None, f"tokenworks serve exited early: {''.join(printed)}"
            try:
                printed.append(lines.get(timeout=max(0.1, deadline - time.monotonic())))
            except queue.Empty:
                pytest.fail(f"no endpoints printed within 180 s: {''.join(printed)}")
        text = "".join(printed)
        base = f"http://127.0.0.1:{port}"
        assert f"POST {base}/v1/completions" in text and f"GET  {base}/v1/models" in text
        assert "code-lm-micro:greedy" in text
        resp = httpx.post(f"{base}/v1/completions", json={"prompt": "def add(a, b):", "max_tokens": 4}, timeout=60)
        assert resp.status_code == 200 and resp.json()["usage"]["completion_tokens"] >= 1
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=90) == 0
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{base}/v1/models", timeout=5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
