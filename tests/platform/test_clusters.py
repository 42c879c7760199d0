"""The cluster definitions parse, enable token authentication, and every entrypoint is a real command."""

from __future__ import annotations

import importlib
import inspect
import json
import re
import shlex
from pathlib import Path

import pytest
import yaml

CLUSTERS = Path(__file__).resolve().parents[2] / "clusters"
try:   # typer >= 0.16 ships its own copy of click
    from typer._click.exceptions import ClickException
except ImportError:
    from click import ClickException


def load(rel: str) -> list[dict]:
    return [d for d in yaml.safe_load_all((CLUSTERS / rel).read_text()) if d]


def check_tokenworks_command(argv: list[str]) -> None:
    """Resolve `tokenworks ARGV` through the real CLI down to its leaf command and parse its options
    (unknown commands, options or bad values raise click errors); nothing runs."""
    from typer.main import get_command

    from tokenworks.cli import app

    cmd = get_command(app)
    ctx = cmd.make_context("tokenworks", list(argv), resilient_parsing=False)
    args = _rest(ctx)
    while hasattr(cmd, "resolve_command"):   # a group: descend into the named subcommand
        name, cmd, args = cmd.resolve_command(ctx, args)
        assert cmd is not None, f"no such command: tokenworks {' '.join(argv)}"
        ctx = cmd.make_context(name, args, parent=ctx, resilient_parsing=False)
        args = _rest(ctx)
    assert not args, f"unexpected arguments {args} in: tokenworks {' '.join(argv)}"


def _rest(ctx) -> list[str]:
    return [*getattr(ctx, "_protected_args", []), *ctx.args]


def tokenworks_commands(text: str) -> list[list[str]]:
    """Every `tokenworks ...` invocation in a shell-ish line: after `--` of `ray job submit`, or at the start
    of a command, split on `&&`."""
    found = []
    for part in re.split(r"&&|\n", text):
        if not re.search(r"(^|\s)tokenworks\s", part):
            continue
        words = shlex.split(part.split(" -- ", 1)[1] if " -- " in part else part, comments=True)
        if words and words[0] == "tokenworks":
            found.append(words[1:])
    return found


def test_checker_rejects_unknown_commands_and_options():
    check_tokenworks_command(["reproduce", "token-recycling", "--preset", "micro"])
    for bad in (["reproduse", "x"], ["reproduce", "x", "--preset", "huge"], ["bench", "nope"],
                ["sweep", "x", "--samples", "2", "--colour"]):
        with pytest.raises((ClickException, AssertionError)):
            check_tokenworks_command(bad)


def test_raycluster_has_head_gpu_workers_and_token_auth():
    (rc,) = load("kuberay/raycluster.yaml")
    assert rc["kind"] == "RayCluster" and rc["apiVersion"] == "ray.io/v1"
    spec = rc["spec"]
    assert spec["authOptions"]["mode"] == "token"
    assert tuple(map(int, spec["rayVersion"].split("."))) >= (2, 52, 0)
    assert spec["headGroupSpec"]["template"]["spec"]["containers"]
    (gpu,) = spec["workerGroupSpecs"]
    limits = gpu["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert limits["nvidia.com/gpu"] == "1"
    assert gpu["minReplicas"] <= gpu["replicas"] <= gpu["maxReplicas"]


def test_rayjob_runs_the_suite_on_paper_preset_with_real_commands():
    (job,) = load("kuberay/rayjob-suite.yaml")
    assert job["kind"] == "RayJob"
    commands = tokenworks_commands(job["spec"]["entrypoint"])
    assert ["reproduce", "--all", "--preset", "paper"] in commands
    for argv in commands:
        check_tokenworks_command(argv)
    assert job["spec"]["rayClusterSpec"]["authOptions"]["mode"] == "token"
    yaml.safe_load(job["spec"]["runtimeEnvYAML"])["env_vars"]["MLFLOW_TRACKING_URI"].startswith("http")


def test_rayservice_imports_a_real_serve_app_builder():
    (svc,) = load("kuberay/rayservice.yaml")
    assert svc["kind"] == "RayService"
    assert svc["spec"]["rayClusterConfig"]["authOptions"]["mode"] == "token"
    serve_cfg = yaml.safe_load(svc["spec"]["serveConfigV2"])
    from tokenworks.methods.decoding.registry import DECODER_NAMES
    from tokenworks.zoo.registry import get_recipe

    for app in serve_cfg["applications"]:
        module, attr = app["import_path"].split(":")
        builder = getattr(importlib.import_module(module), attr)
        assert list(inspect.signature(builder).parameters) == ["args"]
        assert app["args"]["method"] in DECODER_NAMES
        get_recipe(app["args"]["model"])   # raises for a model the zoo cannot build


def test_runtime_env_is_a_valid_ray_runtime_env():
    from ray.runtime_env import RuntimeEnv

    data = yaml.safe_load((CLUSTERS / "runtime-env.yaml").read_text())
    env = RuntimeEnv(**data)
    assert env["env_vars"]["MLFLOW_TRACKING_URI"].startswith("http")


def test_launcher_file_matches_ray_schema_and_enables_token_auth():
    import jsonschema
    import ray.autoscaler

    schema = json.loads((Path(ray.autoscaler.__file__).parent / "ray-schema.json").read_text())
    (cfg,) = load("launcher/aws-gpu.yaml")
    jsonschema.validate(cfg, schema)
    assert cfg["head_node_type"] in cfg["available_node_types"]
    for cmd in cfg["head_start_ray_commands"] + cfg["worker_start_ray_commands"]:
        if cmd.strip().startswith("RAY_AUTH_MODE") or "ray start" in cmd:
            assert "RAY_AUTH_MODE=token" in cmd


def test_mlflow_manifest_serves_on_the_uri_the_clusters_use():
    docs = load("kuberay/mlflow.yaml")
    assert {d["kind"] for d in docs} == {"PersistentVolumeClaim", "Deployment", "Service"}
    (svc,) = [d for d in docs if d["kind"] == "Service"]
    assert f"{svc['metadata']['name']}.{svc['metadata']['namespace']}.svc.cluster.local:5000" in \
        (CLUSTERS / "kuberay/raycluster.yaml").read_text()


def test_every_tokenworks_command_in_the_cluster_files_and_readme_is_real():
    texts = [p.read_text() for p in CLUSTERS.rglob("*") if p.suffix in (".yaml", ".yml")]
    texts += re.findall(r"```\n(.*?)```", (CLUSTERS / "README.md").read_text(), flags=re.S)   # code blocks
    commands = [c for t in texts for line in t.splitlines() for c in tokenworks_commands(line)
                if not line.lstrip().startswith("#")]
    assert len(commands) >= 8
    for argv in commands:
        check_tokenworks_command(argv)
