"""tokenworks' Ray Serve applications: OpenAI-style `/v1/completions` and `/v1/models` in front of any
registered decoder, R2R (small + router + large) or S2D (one sorted draft, several targets).

    ingress (FastAPI, async)  --DeploymentHandle-->  model deployments (one per model group)

- config.py        ServeConfig: app, models, replicas, max_ongoing/queued requests, request limits, presets
- protocol.py      the wire format without Ray: request checks (4xx naming the field), answers, errors
- completion.py    one request against one loaded model: tokenize, decode, cut at stop, usage
- factories.py     where models come from: `served_models(options) -> {id: (Decoder, tokenizer)}`
- model_server.py  ModelServer, the deployment holding a factory's decoders
- vllm_server.py   VLLMServer, plain greedy targets on vLLM where it is installed (optional)
- ingress.py       Ingress, the HTTP front: validation, routing by `model`, 503 on back-pressure
- app.py           which deployments an app needs (and why R2R/S2D co-locate), build_app for `serve run`
- load.py          the load generator behind `tokenworks bench serve`

Run: `tokenworks serve decoder greedy --model code-lm-micro` or
`serve run tokenworks.platform.serve_app:build_app app=decoder method=greedy model=code-lm-micro`.
"""

from tokenworks.platform.serve_app.app import (
    APP_NAME, ModelGroup, build_app, build_application, model_groups, start_app,
)
from tokenworks.platform.serve_app.config import ServeConfig, load_serve_config

__all__ = ["APP_NAME", "ModelGroup", "ServeConfig", "build_app", "build_application", "load_serve_config",
           "model_groups", "start_app"]
