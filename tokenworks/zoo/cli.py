"""`tokenworks zoo ...`: list, build and describe zoo models. Mount with `app.add_typer(zoo_app, name="zoo")`."""

from __future__ import annotations

import json

import typer

from tokenworks.zoo.registry import build, cache_summary, list_models, model_info

zoo_app = typer.Typer(help="Locally built models: BPE tokenizer and Llama-style LMs trained on stdlib code.")


@zoo_app.command("list")
def list_command(as_json: bool = typer.Option(False, "--json", help="Print JSON (includes val bits per byte).")) -> None:
    models = list_models()
    if as_json:
        typer.echo(json.dumps(models, indent=2))
        return
    typer.echo(cache_summary())
    for m in models:
        bpb = f"{m['val_bits_per_byte']:.3f} bits/byte" if m["built"] else "not built"
        params = f"{m['params'] / 1e6:.2f}M params" if m["params"] else ""
        typer.echo(f"{m['name']:<16} {bpb:<18} {params:<14} {m['description']}")


@zoo_app.command("build")
def build_command(name: str, force: bool = typer.Option(False, "--force", help="Rebuild even if cached.")) -> None:
    typer.echo(str(build(name, force=force)))


@zoo_app.command("info")
def info_command(name: str) -> None:
    typer.echo(json.dumps(model_info(name), indent=2))
