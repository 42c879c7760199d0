"""The Reproduction contract: paper metadata, `run(cfg, ctx) -> Result`, a Tune search space, a claims table.

A reproduction knows no Ray and no MLflow: the platform runs it inside an actor, logs its `Result`, and
sweeps its `search_space`. Its metrics are flat `ARM/METRIC` keys (`greedy/tokens_per_s`,
`token-recycling/speedup`) so that every arm of every paper reads the same way in MLflow and in `--json`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Literal

from tokenworks.config import SearchSpace, TokenworksConfig

Verdict = Literal["reproduced", "not reproduced", "not comparable at this scale"]
VERDICTS: tuple[str, ...] = ("reproduced", "not reproduced", "not comparable at this scale")


@dataclass(frozen=True)
class PaperClaim:
    """One headline number of the paper, as structured data."""

    name: str            # e.g. "speedup over greedy"
    value: float
    unit: str            # "x", "%", "tokens", ...
    model: str           # the paper's model, e.g. "Vicuna-7B"
    benchmark: str       # e.g. "Spec-Bench, A100, greedy"

    def text(self) -> str:
        return f"{self.value:g}{self.unit}"


@dataclass
class Claim:
    """One row of a claims table: the paper's number beside ours, the setting of each, a verdict."""

    name: str
    paper: str
    ours: str
    setting: str
    verdict: str
    why: str = ""   # reason for the verdict, always given for "not comparable" and "not reproduced"

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict {self.verdict!r} not in {VERDICTS}")

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass
class Result:
    metrics: dict[str, float]                                     # flat "ARM/METRIC" -> value
    claims: list[Claim]
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # per-sample rows -> Parquet
    plots: dict[str, Path] = field(default_factory=dict)          # name -> PNG written under ctx.workdir
    artifacts: dict[str, Path] = field(default_factory=dict)      # any other files under ctx.workdir
    notes: list[str] = field(default_factory=list)                # shown under the claims table


@dataclass
class RunContext:
    """What the platform hands a reproduction: a folder for files and a progress reporter."""

    workdir: Path
    progress: Callable[[str], None] = print   # one-line status messages; long loops use tqdm themselves
    num_threads: int = 1


class Reproduction(ABC):
    slug: ClassVar[str]
    config_cls: ClassVar[type[TokenworksConfig]]
    paper_claims: ClassVar[list[PaperClaim]] = []
    kind: ClassVar[Literal["faithful", "mechanism", "proxy"]] = "faithful"
    # "implemented" once built and tested; set to "reproduced" only after a measured run gave a
    # "reproduced" verdict on its headline claim (say which run in the class docstring)
    status: ClassVar[Literal["implemented", "reproduced"]] = "implemented"
    # metric keys (and direction) the sweep's Pareto front is drawn over: (speed, quality)
    pareto_axes: ClassVar[tuple[tuple[str, str], tuple[str, str]]] = (("speed", "max"), ("quality", "max"))

    @abstractmethod
    def run(self, cfg: TokenworksConfig, ctx: RunContext) -> Result: ...

    def search_space(self) -> SearchSpace:
        return {}
