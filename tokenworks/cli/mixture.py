"""`tokenworks mixture infer`: what a BPE tokenizer's merges reveal about its training-data mixture."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from tokenworks.cli.common import need, out_console, parse_name_value, print_json, stdout_to_stderr
from tokenworks.errors import UserError

mixture_app = typer.Typer(
    rich_markup_mode="markdown",
    help="Data-mixture inference from BPE merge lists (Hayase et al., arXiv 2407.16607).",
    no_args_is_help=True,
)


@mixture_app.command("infer")
def mixture_infer(
    tokenizer: Path = typer.Option(..., "--tokenizer", metavar="PATH",
                                   help="A BPE tokenizer: tokenizer.json or a folder holding one."),
    categories: list[str] = typer.Option(..., "--category", metavar="NAME=DIR",
                                         help="A candidate category and a folder of its sample text. Give two "
                                         "or more."),
    merges: Optional[int] = typer.Option(None, "--merges", min=1, metavar="N",
                                         help="Use only the first N merges (default: the first 3000, the paper code's default; all merges of a large vocabulary make the LP too big)."),
    as_json: bool = typer.Option(False, "--json", help='Print only JSON: {"proportions": {NAME: share}}.'),
) -> None:
    """Estimate each category's share of a BPE tokenizer's training data from its ordered merge list.

    The shares are of training bytes and sum to 1 over the categories given; a category that was not in
    the training data gets a share near 0.

    **Examples**

    ```
    tokenworks mixture infer --tokenizer tok/tokenizer.json \\
        --category code=samples/code --category english=samples/en
    tokenworks mixture infer --tokenizer tok/ --category a=data/a \\
        --category b=data/b --merges 3000 --json
    ```
    """
    paths = parse_categories(categories)
    if not tokenizer.exists():
        raise UserError(f"--tokenizer {str(tokenizer)!r} does not exist.")
    infer_from_paths = need("tokenworks.methods.tokenization.data_mixture", "infer_from_paths",
                            purpose="`tokenworks mixture infer`")
    with stdout_to_stderr(as_json):
        proportions = infer_from_paths(str(tokenizer), paths, merges)
    if as_json:
        print_json({"proportions": proportions})
        return
    typer.echo(f"estimated training-data mixture of {tokenizer} (share of bytes):")
    table = Table()
    table.add_column("category", no_wrap=True)
    table.add_column("share", justify="right")
    for name, share in sorted(proportions.items(), key=lambda kv: -kv[1]):
        table.add_row(name, f"{share:.1%}")
    out_console().print(table)


def parse_categories(pairs: list[str]) -> dict[str, str]:
    """['code=data/code', ...] -> {'code': 'data/code'}; names unique, folders existing, at least two."""
    categories: dict[str, str] = {}
    for pair in pairs:
        name, folder = parse_name_value(pair, "--category", "DIR")
        if name in categories:
            raise UserError(f"--category {name!r} is given twice ({categories[name]!r} and {folder!r}).")
        if not Path(folder).is_dir():
            raise UserError(f"--category {pair!r}: folder {folder!r} does not exist or is not a directory.")
        categories[name] = folder
    if len(categories) < 2:
        raise UserError(f"mixture inference needs at least two --category NAME=DIR options; got {len(categories)}.")
    return categories
