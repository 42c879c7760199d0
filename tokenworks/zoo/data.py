"""Named text sources the zoo can train on: name -> (split -> documents).

A later issue adds a source (generated tasks, another corpus) by registering it here with `register_source`;
recipes name sources by string, so the training code never changes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tokenworks.errors import UserError, close_matches
from tokenworks.zoo import corpus


@dataclass(frozen=True)
class DataSource:
    read: Callable[[str], list[str]]  # split -> documents
    identity: Callable[[], str]  # changes whenever the documents would change (enters recipe hashes)


DATA_SOURCES: dict[str, DataSource] = {"stdlib": DataSource(read=corpus.read_split, identity=corpus.source_id)}


def register_source(name: str, source: DataSource) -> None:
    DATA_SOURCES[name] = source


def _get(name: str) -> DataSource:
    if name not in DATA_SOURCES:
        raise UserError(
            f"data source {name!r} is not defined; allowed: {', '.join(DATA_SOURCES)}." + close_matches(name, DATA_SOURCES)
        )
    return DATA_SOURCES[name]


def documents(name: str, split: str) -> list[str]:
    return _get(name).read(split)


def source_id(name: str) -> str:
    return f"{name}:{_get(name).identity()}"
