"""The `tokenworks` command line: `main` is the console-script entry point named in pyproject.toml.

Commands: list, reproduce, sweep, serve, bench {decoding, overhead, serve}, zoo {list, build, prompts}, report,
mixture infer, version. Each works as a `ray job submit -- tokenworks ...` entrypoint. Heavy libraries
(torch, ray, mlflow, transformers) are imported inside the commands that need them, so `--help` and
`list` start fast. Bad input prints `error: ...` on stderr and exits with status 2 (see common.py).
"""

from __future__ import annotations

from typing import Optional

import typer

from tokenworks import __version__
from tokenworks.cli.bench import bench_app
from tokenworks.cli.catalog_cmd import list_papers
from tokenworks.cli.common import TokenworksGroup
from tokenworks.cli.mixture import mixture_app
from tokenworks.cli.runs import report, reproduce, sweep
from tokenworks.cli.serve import serve_command
from tokenworks.cli.zoo import zoo_app

app = typer.Typer(
    cls=TokenworksGroup,
    rich_markup_mode="markdown",
    name="tokenworks",
    help="Implement, reproduce, sweep, serve and track token-efficiency research (41 papers).\n\n"
    "Start with `tokenworks list`, then `tokenworks reproduce SLUG`. Runs are logged to MLflow "
    "($MLFLOW_TRACKING_URI, else MLflow's local default: ./mlflow.db with artifacts in ./mlruns; "
    "`mlflow ui` in the same folder shows them).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"tokenworks {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Optional[bool] = typer.Option(None, "--version", callback=_print_version, is_eager=True,
                                           help="Print the version and exit."),
) -> None:
    """Implement, reproduce, sweep, serve and track token-efficiency research (41 papers)."""


app.command("list")(list_papers)
app.command("reproduce")(reproduce)
app.command("sweep")(sweep)
app.command("serve")(serve_command)
app.add_typer(bench_app, name="bench")
app.add_typer(zoo_app, name="zoo")
app.command("report")(report)
app.add_typer(mixture_app, name="mixture")


@app.command("version")
def version() -> None:
    """Print the tokenworks version.

    **Example**

    ```
    tokenworks version
    ```
    """
    typer.echo(f"tokenworks {__version__}")


def main() -> None:
    app()
