"""`tokenworks list`: every paper of PAPERS.md with its family, status and taxonomy tags."""

from __future__ import annotations

from typing import Optional

import typer
from rich import box
from rich.table import Table

from tokenworks.cli.common import out_console, print_json
from tokenworks.catalog import AXES, GROUP_FIELDS, NA, PAPERS, PaperEntry, group_by

_STATUS_STYLE = {"planned": "dim", "implemented": "cyan", "reproduced": "green", "unavailable": "red",
                 "taxonomy": "magenta"}


def list_papers(
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    by: Optional[str] = typer.Option(
        None, "--by", metavar="AXIS",
        help=f"Group the papers by a taxonomy axis ({', '.join(AXES)}) or by {', '.join(GROUP_FIELDS)}.",
    ),
) -> None:
    """List all 41 papers: slug, title, family, status and taxonomy tags.

    Status is planned (not built), implemented (built and tested), reproduced (a measured run reproduced
    the headline claim), unavailable (registered but its code does not import) or taxonomy (the two
    surveys, which this taxonomy itself implements; there is nothing to reproduce).

    **Examples**

    ```
    tokenworks list
    tokenworks list --by paradigm
    tokenworks list --by status --json
    ```
    """
    if by is None:
        entries = list(PAPERS.values())
        if as_json:
            print_json([e.as_dict() for e in entries])
        else:
            out_console().print(_paper_table(entries, title=f"{len(entries)} papers"))
        return
    groups = group_by(by)
    if as_json:
        print_json({"by": by, "groups": {value: [e.as_dict() for e in members] for value, members in groups.items()}})
        return
    console = out_console()
    for i, (value, members) in enumerate(groups.items()):
        last = i == len(groups) - 1
        console.print(_paper_table(members, title=f"{by} = {value}  ({len(members)})", hide=by, caption=last))


def _paper_table(entries: list[PaperEntry], title: str, hide: str | None = None, caption: bool = True) -> Table:
    """One row per paper; the tags column lists the values that apply (n/a left out) in AXES order.

    No value is used by two axes, so a value alone says which axis it is on (`tokenworks list --json`
    gives them keyed by axis)."""
    shown = [a for a in AXES if a != hide]
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, caption_justify="left",
                  caption=f"tags: the values of {', '.join(shown)} that apply (n/a left out); --json keys them by axis"
                  if caption else None)
    table.add_column("#", justify="right")
    table.add_column("slug", no_wrap=True)
    table.add_column("paper", ratio=3)
    table.add_column("family", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("tags", ratio=4)
    for e in entries:
        status = e.status
        tags = " ".join(e.tags[a] for a in shown if e.tags[a] != NA)
        table.add_row(str(e.number), e.slug, e.short, e.family, f"[{_STATUS_STYLE.get(status, '')}]{status}[/]",
                      tags or NA)
    return table
