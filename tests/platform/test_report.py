"""build_report(): latest run per paper from MLflow -> Markdown + HTML with plots and the taxonomy."""

from __future__ import annotations

import time

from tokenworks.pipelines.base import Claim
from tokenworks.platform import report, tracking


def _log(slug: str, verdict: str, ours: str, plot_src=None, tags=None):
    with tracking.start_run(slug, f"{slug}-run", tags=tags) as run:
        run.log_claims([Claim("speedup", "2x", ours, "cpu", verdict, "why not" if verdict != "reproduced" else "")])
        if plot_src:
            run.log_file(plot_src, "plots")
    time.sleep(0.01)   # distinct start times
    return run.run_id


def test_report_shows_latest_run_of_each_paper(fresh_tracking, tmp_path):
    png = tmp_path / "speed.png"
    report.verdict_plot([], png)   # any real PNG
    _log("token-recycling", "not reproduced", "1.1x")
    newest = _log("token-recycling", "reproduced", "2.2x", plot_src=png)
    _log("token-recycling", "reproduced", "9.9x", tags={"sweep": "trial"})   # sweep trials are not reports
    other = _log("fake-paper", "not comparable at this scale", "n/a")
    md = report.build_report(tmp_path / "out").read_text()
    assert "| speedup | 2x | 2.2x | cpu | reproduced |" in md
    assert "1.1x" not in md and "9.9x" not in md
    assert newest in md and other in md
    assert "## token-recycling: " in md   # the catalog's title
    assert report.TAXONOMY_LABEL in md and "survey-dlm" in md
    assert (tmp_path / "out" / "plots" / "verdicts.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "out" / "plots" / "token-recycling-speed.png").exists()
    page = (tmp_path / "out" / "report.html").read_text()
    assert "<td>2.2x</td>" in page and 'src="plots/verdicts.png"' in page


def test_report_with_no_runs_says_so(fresh_tracking, tmp_path):
    md = report.build_report(tmp_path / "empty").read_text()
    assert "No finished reproduction runs yet" in md
