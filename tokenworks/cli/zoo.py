"""`tokenworks zoo ...`: the small models tokenworks trains itself, and prompt files drawn from their data."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from tokenworks.cli.bench import zoo_function
from tokenworks.cli.common import (
    Unavailable, configure_threads, need, out_console, print_json, stdout_to_stderr, warn,
)
from tokenworks.cli.prompts_file import write_prompts
from tokenworks.errors import UserError, close_matches

zoo_app = typer.Typer(
    rich_markup_mode="markdown",
    help="The model zoo: small tokenizers and models trained here on data every machine has, cached by recipe.",
    no_args_is_help=True,
)


class ZooPreset(str, Enum):
    micro = "micro"
    tiny = "tiny"


@zoo_app.command("list")
def zoo_list(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")) -> None:
    """List the zoo's models: built or not, size, validation bits per byte (or accuracy), how varied a code
    LM's greedy output is (distinct-4-gram share; below 0.6 it loops), recipe hash.

    **Examples**

    ```
    tokenworks zoo list
    tokenworks zoo list --json
    ```
    """
    models = zoo_function("list_models")()
    if as_json:
        print_json(models)
        return
    table = Table(title="model zoo", title_justify="left")
    for column in ("name", "built", "params", "val bits/byte", "val acc", "greedy dist4", "recipe", "description",
                   "path"):
        table.add_column(column, no_wrap=column in ("name", "recipe"), overflow="fold")
    for m in models:
        bpb = m.get("val_bits_per_byte")
        params = m.get("params")
        table.add_row(
            m["name"], "yes" if m.get("built") else "no", f"{params:,}" if isinstance(params, int) else "",
            f"{bpb:.3f}" if isinstance(bpb, (int, float)) else "",
            f"{acc:.3f}" if isinstance(acc := m.get("val_accuracy"), (int, float)) else "",
            f"{d4:.2f}" if isinstance(d4 := m.get("val_greedy_distinct_4gram"), (int, float)) else "",
            str(m.get("recipe_hash") or ""),
            str(m.get("description") or ""), str(m.get("path") or ""),
        )
    out_console().print(table)


@zoo_app.command("build")
def zoo_build(
    name: str = typer.Argument(..., help="Zoo model name, e.g. code-lm-tiny (see `tokenworks zoo list`)."),
    preset: Optional[ZooPreset] = typer.Option(
        None, "--preset", help="Size suffix: with --preset tiny, NAME code-lm means code-lm-tiny."),
    force: bool = typer.Option(False, "--force", help="Rebuild even if a model for this recipe is cached."),
) -> None:
    """Train a zoo model (a progress bar shows while it trains); cached, so a second build is instant.
    A fresh build is recorded as an MLflow run in experiment `zoo-builds` (recipe as params, metrics from
    zoo.json).

    **Examples**

    ```
    tokenworks zoo build code-lm-tiny
    tokenworks zoo build code-lm --preset micro
    tokenworks zoo build code-lm-micro --force
    ```
    """
    full_name = zoo_name(name, preset.value if preset else None)
    known = [m["name"] for m in zoo_function("list_models")()]
    if full_name not in known:
        raise UserError(f"{full_name!r} is not a zoo model; zoo models: {', '.join(known)}."
                        + close_matches(full_name, known))
    build = zoo_function("build")
    configure_threads()
    try:  # record the build in MLflow; a zoo without the platform (or a stand-in zoo) still builds
        need("tokenworks.platform.zoo_tracking", "enable_zoo_tracking", purpose="logging the build to MLflow")()
    except (Unavailable, ImportError) as exc:
        warn(f"the build is not logged to MLflow: {exc}")
    path = build(full_name, force)
    typer.echo(f"{full_name}: {path}")


def zoo_name(name: str, preset: str | None) -> str:
    """'code-lm' + preset 'tiny' -> 'code-lm-tiny'; a name that already ends in a size keeps it (if it agrees)."""
    if preset is None:
        return name
    sizes = [p.value for p in ZooPreset]
    suffix = next((s for s in sizes if name.endswith(f"-{s}")), None)
    if suffix is None:
        return f"{name}-{preset}"
    if suffix != preset:
        raise UserError(f"zoo name {name!r} already names size {suffix!r}, but --preset is {preset!r}; "
                        f"give {name.removesuffix('-' + suffix)!r} with --preset, or drop --preset.")
    return name


@zoo_app.command("prompts")
def zoo_prompts(
    out: Path = typer.Option(..., "--out", metavar="FILE.jsonl", help="Where to write the prompts (JSON lines)."),
    n: int = typer.Option(32, "--n", min=1, help="Number of prompts."),
    model: str = typer.Option("code-lm-tiny", "--model", metavar="M",
                              help="Model whose tokenizer measures the prompt length (for a zoo name only the "
                              "tokenizer is built, not the model)."),
    split: str = typer.Option("test", "--split", help="Corpus split to draw from: test (held out) or train."),
) -> None:
    """Write held-out code prompts (function bodies to complete) as a file for `tokenworks bench decoding`.

    Each line is {"prompt": "..."}; the same arguments always give the same file.

    **Examples**

    ```
    tokenworks zoo prompts --n 32 --out prompts.jsonl
    tokenworks zoo prompts --model code-lm-micro --n 8 --out /tmp/p.jsonl
    ```
    """
    if out.exists() and out.is_dir():
        raise UserError(f"--out {str(out)!r} is a directory; give a file name such as prompts.jsonl.")
    code_prompts = zoo_function("code_prompts")
    with stdout_to_stderr(True):
        prompts = code_prompts(load_tokenizer(model), n, split=split)
    path = write_prompts(prompts, out)
    typer.echo(f"wrote {len(prompts)} prompts to {path}")


def load_tokenizer(model: str):
    """The tokenizer of `model`. For a zoo name only its tokenizer is loaded (built if missing, seconds),
    so writing prompts never trains a model; anything else loads through the zoo's `load_lm`."""
    zoo_recipes = need("tokenworks.zoo.recipes", "ZOO", purpose="`tokenworks zoo prompts`")
    if model in zoo_recipes:
        from_recipe = need("tokenworks.zoo.tokenizer", "load_tokenizer", purpose="`tokenworks zoo prompts`")
        return from_recipe(zoo_recipes[model].tokenizer)
    return zoo_function("load_lm")(model)[1]
