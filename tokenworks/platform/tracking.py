"""MLflow tracking with a local folder that always holds the same files, so an unreachable server loses nothing.

Layout (DESIGN.md): experiment = paper slug; run = one reproduction; nested runs = sweep trials (tag
`mlflow.parentRunId`). A `TrackedRun` writes every param, metric, claims table (JSON + Markdown), per-sample
table (Parquet) and plot (PNG) into its local folder first and mirrors it to MLflow. When the tracking
server cannot be reached before the run starts, or a call fails during it, the run carries on offline and a
warning names the folder. A run that raises is marked FAILED with whatever it had logged.

Tracking URI: `MLFLOW_TRACKING_URI` when set, otherwise MLflow's own default (`sqlite:///mlflow.db` in the
working directory for mlflow 3.x, or `./mlruns` where that folder already holds runs), so `mlflow ui`
started in the same folder shows the runs.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import numbers
import os
import shutil
import sys
import traceback
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlparse

from tokenworks.zoo.paths import cache_root

PARENT_TAG = "mlflow.parentRunId"
BENCH_EXPERIMENT = "bench-decoding"
REACH_TIMEOUT_S = 2.0


class TrackingWarning(UserWarning):
    """Tracking fell back to the local folder."""


def tracking_uri() -> str:
    import mlflow

    return os.environ.get("MLFLOW_TRACKING_URI") or mlflow.get_tracking_uri()


def local_runs_root() -> Path:
    """Where every run's files land: <tokenworks cache>/runs/<experiment>/<timestamp>-<name>."""
    return cache_root() / "runs"


def check_reachable(uri: str, timeout_s: float = REACH_TIMEOUT_S) -> str | None:
    """None when `uri` looks usable, else the reason it is not. Quick: one HTTP probe or one mkdir."""
    parsed = urlparse(uri)
    if parsed.scheme in ("http", "https"):
        import httpx

        try:
            httpx.get(uri.rstrip("/") + "/health", timeout=timeout_s).raise_for_status()
        except Exception as exc:  # connection refused, DNS, timeout, 5xx: all mean "not now"
            return f"{type(exc).__name__}: {exc}"
        return None
    if parsed.scheme in ("sqlite", "file", ""):
        path = Path(parsed.path if parsed.scheme else uri)
        if parsed.scheme == "sqlite":
            path = Path(uri.split(":///", 1)[-1]).parent
        try:
            path.expanduser().mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            return f"cannot create {path}: {exc}"
    return None


class TrackedRun:
    """One run: a local folder that is always written, mirrored to MLflow while MLflow answers."""

    def __init__(self, experiment: str, run_name: str, local_dir: Path, client: Any, run_id: str | None,
                 uri: str) -> None:
        self.experiment, self.run_name, self.local_dir, self.uri = experiment, run_name, local_dir, uri
        self._client, self.run_id = client, run_id
        self._params: dict[str, str] = {}
        self._metrics: dict[str, float] = {}
        self._tags: dict[str, str] = {}

    @property
    def offline(self) -> bool:
        return self._client is None

    # --- what reproductions, sweeps and benchmarks log ---------------------------------------------------

    def log_params(self, params: dict[str, Any]) -> None:
        clean = {k: _param_text(v) for k, v in params.items()}
        self._params.update(clean)
        _write_json(self.local_dir / "params.json", self._params)
        from mlflow.entities import Param

        self._mirror(lambda c: c.log_batch(self.run_id, params=[Param(k, v) for k, v in clean.items()]))

    def log_metrics(self, metrics: dict[str, Any], step: int | None = None) -> None:
        clean = {k: float(v) for k, v in metrics.items() if _is_number(v)}
        self._metrics.update(clean)
        _write_json(self.local_dir / "metrics.json", self._metrics)
        from mlflow.entities import Metric

        ms = int(_dt.datetime.now().timestamp() * 1000)
        batch = [Metric(k, v, ms, step or 0) for k, v in clean.items()]
        self._mirror(lambda c: c.log_batch(self.run_id, metrics=batch))

    def set_tags(self, tags: dict[str, Any]) -> None:
        clean = {k: str(v) for k, v in tags.items() if v is not None}
        self._tags.update(clean)
        _write_json(self.local_dir / "tags.json", self._tags)
        from mlflow.entities import RunTag

        self._mirror(lambda c: c.log_batch(self.run_id, tags=[RunTag(k, v) for k, v in clean.items()]))

    def log_claims(self, claims: list[Any]) -> None:
        """claims.json (list of dicts) and claims.md (a Markdown table), as files and artifacts."""
        rows = [c.as_dict() if hasattr(c, "as_dict") else dict(c) for c in claims]
        _write_json(self.local_dir / "claims.json", rows)
        (self.local_dir / "claims.md").write_text(markdown_table(rows) + "\n")
        self._mirror(lambda c: c.log_artifact(self.run_id, str(self.local_dir / "claims.json")))
        self._mirror(lambda c: c.log_artifact(self.run_id, str(self.local_dir / "claims.md")))

    def log_table(self, name: str, rows: list[dict[str, Any]]) -> Path:
        """Per-sample rows as `tables/<name>.parquet`."""
        path = self.local_dir / "tables" / f"{name}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_parquet(rows, path)
        self._mirror(lambda c: c.log_artifact(self.run_id, str(path), "tables"))
        return path

    def log_file(self, path: Path | str, artifact_dir: str | None = None) -> Path:
        """Copy a file into the local folder (unless it is already there) and log it as an artifact."""
        src = Path(path)
        dest_dir = self.local_dir / artifact_dir if artifact_dir else self.local_dir
        dest = dest_dir / src.name
        if src.resolve() != dest.resolve():
            dest_dir.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest)
        self._mirror(lambda c: c.log_artifact(self.run_id, str(dest), artifact_dir))
        return dest

    def log_text(self, text: str, name: str) -> Path:
        path = self.local_dir / name
        path.write_text(text)
        self._mirror(lambda c: c.log_artifact(self.run_id, str(path)))
        return path

    def finish(self, status: str = "FINISHED") -> None:
        _write_json(self.local_dir / "status.json", {"status": status, "run_id": self.run_id,
                                                     "tracking_uri": None if self.offline else self.uri})
        self._mirror(lambda c: c.set_terminated(self.run_id, status))

    # --- the one place MLflow failures are absorbed -----------------------------------------------------

    def _mirror(self, call) -> None:
        if self._client is None:
            return
        try:
            call(self._client)
        except Exception as exc:
            self._client = None
            warn_offline(f"MLflow call failed during run {self.run_id} at {self.uri} ({type(exc).__name__}: "
                         f"{exc})", self.local_dir)


def warn_offline(reason: str, local_dir: Path) -> None:
    message = f"{reason}; tracking continues offline, results are written to {local_dir}"
    warnings.warn(message, TrackingWarning, stacklevel=3)
    print(f"WARNING: {message}", file=sys.stderr)


@contextmanager
def start_run(experiment: str, run_name: str, *, tags: dict[str, Any] | None = None,
              parent_run_id: str | None = None, resume_run_id: str | None = None,
              local_dir: Path | None = None) -> Iterator[TrackedRun]:
    """Open a run (or reopen `resume_run_id`); FINISHED on exit, FAILED with a traceback file on error."""
    local_dir = Path(local_dir) if local_dir else new_local_dir(experiment, run_name)
    local_dir.mkdir(parents=True, exist_ok=True)
    run = open_run(experiment, run_name, local_dir, parent_run_id=parent_run_id, resume_run_id=resume_run_id,
                   tags=tags)
    if tags:
        run.set_tags(tags)   # again, for a reopened run and for the local tags.json
    try:
        yield run
    except BaseException as exc:
        run.log_text("".join(traceback.format_exception(exc)), "error.txt")
        run.finish("KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED")
        raise
    run.finish("FINISHED")


def open_run(experiment: str, run_name: str, local_dir: Path, parent_run_id: str | None = None,
             resume_run_id: str | None = None, tags: dict[str, Any] | None = None) -> TrackedRun:
    """A new run (tags set at creation, so a run killed a moment later is still findable by them), or
    `resume_run_id` set back to RUNNING; offline when the server does not answer."""
    uri = tracking_uri()
    problem = check_reachable(uri)
    if problem:
        warn_offline(f"MLflow tracking server {uri} is unreachable ({problem})", local_dir)
        return TrackedRun(experiment, run_name, local_dir, None, None, uri)
    _limit_http_retries()
    try:
        from mlflow import MlflowClient

        client = MlflowClient(tracking_uri=uri)
        if resume_run_id:
            client.update_run(resume_run_id, status="RUNNING")
            run_id = resume_run_id
        else:
            first = {**{k: str(v) for k, v in (tags or {}).items() if v is not None}, "mlflow.runName": run_name,
                     **({PARENT_TAG: parent_run_id} if parent_run_id else {})}
            run_id = client.create_run(experiment_id(client, experiment), run_name=run_name, tags=first).info.run_id
    except Exception as exc:
        warn_offline(f"MLflow at {uri} refused the run ({type(exc).__name__}: {exc})", local_dir)
        return TrackedRun(experiment, run_name, local_dir, None, None, uri)
    return TrackedRun(experiment, run_name, local_dir, client, run_id, uri)


def experiment_id(client: Any, name: str) -> str:
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    try:
        return client.create_experiment(name)
    except Exception:  # another trial created it between our two calls
        return client.get_experiment_by_name(name).experiment_id


def new_local_dir(experiment: str, run_name: str) -> Path:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    return local_runs_root() / _safe_name(experiment) / f"{stamp}-{_safe_name(run_name)}"


def log_bench(name: str, params: dict[str, Any], rows: dict[str, dict[str, Any]],
              per_sample: list[dict[str, Any]]) -> str | None:
    """One `bench-decoding` run: params, `ARM/METRIC` metrics from `rows`, the summary table as Markdown
    and Parquet, and the per-sample rows as Parquet. Returns the MLflow run id, or None when offline."""
    with start_run(BENCH_EXPERIMENT, name, tags=standard_tags(preset=params.get("preset"))) as run:
        run.log_params(params)
        run.log_metrics({f"{arm}/{k}": v for arm, row in rows.items() for k, v in row.items()})
        summary = [{"arm": arm, **row} for arm, row in rows.items()]
        run.log_text(markdown_table(summary) + "\n", "summary.md")
        run.log_table("summary", summary)
        if per_sample:
            run.log_table("per_sample", per_sample)
    return run.run_id


# --- tags --------------------------------------------------------------------------------------------------


def standard_tags(slug: str | None = None, preset: str | None = None) -> dict[str, str]:
    """git commit, preset, device, library versions and (when the catalog knows it) the paper's identity."""
    from importlib.metadata import PackageNotFoundError, version

    from tokenworks.runtime import device_name

    tags: dict[str, str] = {"device": device_name()}
    if preset:
        tags["preset"] = preset
    commit = git_commit()
    if commit:
        tags["git_commit"] = tags["mlflow.source.git.commit"] = commit
    for lib in ("torch", "transformers", "ray", "mlflow"):
        try:
            tags[lib] = version(lib)
        except PackageNotFoundError:
            pass
    if slug:
        tags["paper"] = slug
        tags.update(paper_tags(slug))
    return tags


def paper_tags(slug: str) -> dict[str, str]:
    """arXiv id and title from tokenworks.catalog, which may not exist yet or may not know the slug."""
    try:
        from tokenworks.catalog import PAPERS

        entry = PAPERS[slug]
    except Exception:
        return {}
    out = {}
    for tag, attrs in (("paper_title", ("title",)), ("paper_arxiv", ("arxiv", "arxiv_id"))):
        value = next((getattr(entry, a) for a in attrs if getattr(entry, a, None)), None)
        if value:
            out[tag] = str(value)
    return out


def git_commit() -> str | None:
    import subprocess

    repo = Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


# --- file helpers -------------------------------------------------------------------------------------------


def markdown_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "(no rows)"
    cols = list(dict.fromkeys(k for r in rows for k in r))
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        lines.append("| " + " | ".join(_cell(r.get(c, "")) for c in cols) + " |")
    return "\n".join(lines)


def write_parquet(rows: list[dict[str, Any]], path: Path) -> None:
    """Rows -> Parquet; a column pyarrow cannot type (mixed or nested objects) is stored as text (JSON)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    cols = list(dict.fromkeys(k for r in rows for k in r))
    arrays = {}
    for c in cols:
        values = [r.get(c) for r in rows]
        try:
            arrays[c] = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
            arrays[c] = pa.array([_as_text(v) for v in values], type=pa.string())
    pq.write_table(pa.table(arrays) if cols else pa.table({}), path)


def _as_text(v: Any) -> str | None:
    return v if v is None or isinstance(v, str) else json.dumps(v, default=str)


def _cell(v: Any) -> str:
    text = f"{v:.4g}" if isinstance(v, float) else str(v)
    return text.replace("|", "\\|").replace("\n", " ")


def _param_text(v: Any) -> str:
    text = v if isinstance(v, str) else json.dumps(v, default=str)
    return text[:6000]  # MLflow's limit on a param value


def _is_number(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(float(v))


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")


def _safe_name(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in text)[:80]


def _limit_http_retries() -> None:
    """A server that dies mid-run should cost seconds, not MLflow's default minutes of retries."""
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "15")
