"""`tokenworks report`: the latest run of every paper from MLflow in one Markdown + HTML page with plots.

Per paper: the claims table (paper's number, ours, verdict), the run's own plots, a link to the run. Above
them, one summary plot of verdicts per paper; below, the taxonomy table of the catalog. The page is built
as a list of blocks (heading, text, table, image) rendered twice, so Markdown and HTML say the same thing.
"""

from __future__ import annotations

import datetime as _dt
import html
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tokenworks.pipelines.base import VERDICTS

SKIP_EXPERIMENTS = {"Default"}
TAXONOMY_LABEL = "Taxonomy of the two surveys (survey-dlm, survey-parallel)"


@dataclass
class Block:
    kind: str                 # "h1" | "h2" | "text" | "table" | "image"
    value: Any                # text, rows (list of dicts), or an image path relative to the page


@dataclass
class PaperRun:
    slug: str
    run_id: str
    status: str
    start: str
    url: str | None
    claims: list[dict[str, str]]
    plots: list[Path]


def build_report(out_dir: str | Path) -> Path:
    """Write report.md, report.html and the plots into `out_dir`; returns the Markdown path."""
    import os

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")   # no bar per downloaded claims file
    out = Path(out_dir).expanduser()
    (out / "plots").mkdir(parents=True, exist_ok=True)
    runs = latest_runs(out / "plots")
    blocks = page_blocks(runs, out)
    md_path = out / "report.md"
    md_path.write_text(render_markdown(blocks))
    (out / "report.html").write_text(render_html(blocks))
    return md_path


def latest_runs(plot_dir: Path) -> list[PaperRun]:
    """The newest finished reproduction run (not a sweep parent or trial) of every paper experiment."""
    from mlflow import MlflowClient

    from tokenworks.catalog import PAPERS
    from tokenworks.pipelines import registered
    from tokenworks.platform.tracking import BENCH_EXPERIMENT, tracking_uri

    papers = set(PAPERS) | set(registered())

    uri = tracking_uri()
    client = MlflowClient(uri)
    found = []
    for exp in client.search_experiments():
        if exp.name in SKIP_EXPERIMENTS or exp.name == BENCH_EXPERIMENT or exp.name not in papers:
            continue  # benches, zoo builds and the default experiment are not papers
        runs = client.search_runs([exp.experiment_id], filter_string="attributes.status = 'FINISHED'",
                                  order_by=["attributes.start_time DESC"], max_results=50)
        runs = [r for r in runs if "sweep" not in r.data.tags]
        # a micro run is test-sized: show the newest run of a real preset when there is one
        run = next((r for r in runs if r.data.tags.get("preset") != "micro"), runs[0] if runs else None)
        if run is not None:
            found.append(paper_run(client, uri, exp, run, plot_dir))
    return sorted(found, key=lambda r: r.slug)


def paper_run(client: Any, uri: str, exp: Any, run: Any, plot_dir: Path) -> PaperRun:
    """One paper's section data: claims.json and the PNG plots come from the run's artifacts."""
    import tempfile

    run_id = run.info.run_id
    names = {a.path for a in client.list_artifacts(run_id)}
    claims, plots = [], []
    with tempfile.TemporaryDirectory() as tmp:
        if "claims.json" in names:
            claims = json.loads(Path(client.download_artifacts(run_id, "claims.json", tmp)).read_text())
        pngs = [a.path for a in client.list_artifacts(run_id, "plots")] if "plots" in names else []
        for art in (p for p in pngs if p.endswith(".png")):
            dest = plot_dir / f"{exp.name}-{Path(art).name}"
            shutil.copy2(client.download_artifacts(run_id, art, tmp), dest)
            plots.append(dest)
    start = _dt.datetime.fromtimestamp(run.info.start_time / 1000).strftime("%Y-%m-%d %H:%M")
    url = f"{uri.rstrip('/')}/#/experiments/{exp.experiment_id}/runs/{run_id}" if uri.startswith("http") else None
    start += f", preset {run.data.tags['preset']}" if run.data.tags.get("preset") else ""
    return PaperRun(exp.name, run_id, run.info.status, start, url, claims, plots)


def page_blocks(runs: list[PaperRun], out: Path) -> list[Block]:
    from tokenworks.platform.tracking import tracking_uri

    blocks = [Block("h1", "tokenworks report"),
              Block("text", f"Latest finished run of every paper in MLflow ({tracking_uri()}), "
                            f"built {_dt.datetime.now():%Y-%m-%d %H:%M}.")]
    if runs:
        summary = verdict_plot(runs, out / "plots" / "verdicts.png")
        blocks += [Block("image", summary.relative_to(out)),
                   Block("table", [{"paper": r.slug, **verdict_counts(r)} for r in runs])]
    else:
        blocks.append(Block("text", "No finished reproduction runs yet: run `tokenworks reproduce SLUG`."))
    for r in runs:
        blocks.append(Block("h2", paper_heading(r.slug)))
        where = f"[{r.run_id}]({r.url})" if r.url else f"`{r.run_id}` (open with `mlflow ui`)"
        blocks.append(Block("text", f"Run {where}, started {r.start}."))
        cols = ("name", "paper", "ours", "setting", "verdict", "why")
        blocks.append(Block("table", [{c: row.get(c, "") for c in cols} for row in r.claims])
                      if r.claims else Block("text", "This run logged no claims."))
        blocks += [Block("image", p.relative_to(out)) for p in r.plots]
    blocks += taxonomy_blocks()
    return blocks


def paper_heading(slug: str) -> str:
    try:
        from tokenworks.catalog import PAPERS

        return f"{slug}: {PAPERS[slug].title}"
    except Exception:   # the catalog is optional here; an unknown experiment still gets its section
        return slug


def verdict_counts(run: PaperRun) -> dict[str, int]:
    return {v: sum(c.get("verdict") == v for c in run.claims) for v in VERDICTS}


def verdict_plot(runs: list[PaperRun], path: Path) -> Path:
    """Stacked bars: how many claims of each paper were reproduced / not / not comparable."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(4, 0.8 * len(runs) + 2), 3.5))
    bottom = [0] * len(runs)
    for verdict, colour in zip(VERDICTS, ("tab:green", "tab:red", "tab:gray")):
        counts = [verdict_counts(r)[verdict] for r in runs]
        ax.bar([r.slug for r in runs], counts, bottom=bottom, label=verdict, color=colour)
        bottom = [b + c for b, c in zip(bottom, counts)]
    ax.set_ylabel("claims")
    ax.set_title("verdicts of the latest run per paper")
    ax.legend(fontsize="small")
    plt.setp(ax.get_xticklabels(), rotation=30, ha="right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def taxonomy_blocks() -> list[Block]:
    try:
        from tokenworks.catalog import AXES, PAPERS
    except Exception:   # the catalog is written by someone else and may be missing or broken
        return [Block("h2", TAXONOMY_LABEL), Block("text", "(the catalog is not available)")]
    rows = [{"slug": e.slug, "title": e.title, "family": e.family, "status": e.status,
             **{a: e.tags.get(a, "") for a in AXES}} for e in PAPERS.values()]
    return [Block("h2", TAXONOMY_LABEL),
            Block("text", "A classification of the catalog, not a measurement; n/a = the axis does not apply."),
            Block("table", rows)]


def render_markdown(blocks: list[Block]) -> str:
    from tokenworks.platform.tracking import markdown_table

    parts = []
    for b in blocks:
        if b.kind == "h1":
            parts.append(f"# {b.value}")
        elif b.kind == "h2":
            parts.append(f"## {b.value}")
        elif b.kind == "table":
            parts.append(markdown_table(b.value))
        elif b.kind == "image":
            parts.append(f"![{Path(b.value).stem}]({b.value})")
        else:
            parts.append(str(b.value))
    return "\n\n".join(parts) + "\n"


def render_html(blocks: list[Block]) -> str:
    body = []
    for b in blocks:
        if b.kind in ("h1", "h2"):
            body.append(f"<{b.kind}>{html.escape(str(b.value))}</{b.kind}>")
        elif b.kind == "table":
            body.append(_html_table(b.value))
        elif b.kind == "image":
            body.append(f'<p><img src="{html.escape(str(b.value))}" alt="{html.escape(Path(b.value).stem)}"></p>')
        else:
            body.append(f"<p>{_html_text(str(b.value))}</p>")
    style = ("body{font-family:sans-serif;max-width:1200px;margin:auto}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:2px 6px;font-size:13px}")
    return (f"<!doctype html>\n<html><head><meta charset='utf-8'><title>tokenworks report</title>"
            f"<style>{style}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")


def _html_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "<p>(no rows)</p>"
    cols = list(dict.fromkeys(k for r in rows for k in r))
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(r.get(c, '')))}</td>" for c in cols) + "</tr>"
                   for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _html_text(text: str) -> str:
    """Escape, then turn the two Markdown forms we emit ([text](url) and `code`) into HTML."""
    import re

    out = html.escape(text)
    out = re.sub(r"\[([^\]]+)\]\(([^)]+)\)", r'<a href="\2">\1</a>', out)
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
