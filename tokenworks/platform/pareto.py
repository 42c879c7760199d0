"""The speed/quality Pareto front of a sweep: which trials no other trial beats on both axes."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

Axes = Sequence[tuple[str, str]]   # ((metric key, "max" | "min"), ...)


def pareto_front(trials: list[dict[str, Any]], axes: Axes) -> list[dict[str, Any]]:
    """Trials not dominated by any other (at least as good on every axis, better on one), sorted by axis 0."""
    def oriented(t: dict) -> tuple[float, ...]:
        return tuple(t["metrics"][k] if d == "max" else -t["metrics"][k] for k, d in axes)

    points = [oriented(t) for t in trials]

    def dominated(p: tuple[float, ...]) -> bool:
        return any(all(a >= b for a, b in zip(q, p)) and q != p for q in points)

    front = [t for t, p in zip(trials, points) if not dominated(p)]
    return sorted(front, key=lambda t: oriented(t)[0], reverse=True)


def pareto_table(front: list[dict[str, Any]], axes: Axes) -> str:
    from tokenworks.platform.tracking import markdown_table

    if not front:
        return "(no finished trial reported both Pareto metrics)"
    rows = []
    for t in front:
        row: dict[str, Any] = {"trial": t["trial_id"]}
        row.update({f"{k} ({d})": t["metrics"][k] for k, d in axes})
        row.update({f"cfg.{k}": v for k, v in sorted((t.get("config") or {}).items())})
        rows.append(row)
    return markdown_table(rows)


def plot_front(trials: list[dict[str, Any]], front: list[dict[str, Any]], axes: Axes, path: Path,
               title: str = "") -> Path:
    """Every trial as a grey dot, the front as a red line; PNG at `path`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    (kx, _), (ky, _) = axes[0], axes[1]
    trials = [t for t in trials if kx in t["metrics"] and ky in t["metrics"]]
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.scatter([t["metrics"].get(kx) for t in trials], [t["metrics"].get(ky) for t in trials], c="0.6",
               label="trials")
    front = sorted(front, key=lambda t: t["metrics"][kx])
    ax.plot([t["metrics"][kx] for t in front], [t["metrics"][ky] for t in front], "o-", c="tab:red",
            label="Pareto front")
    ax.set_xlabel(kx)
    ax.set_ylabel(ky)
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
