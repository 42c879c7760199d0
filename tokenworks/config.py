"""Typed configs with named presets and validated ranges; one flat dict for MLflow params and Tune keys.

Every method and every reproduction subclasses `TokenworksConfig`. A config class declares its fields with
pydantic constraints (`Field(ge=..., le=...)`, `Literal[...]`) and its presets in `PRESETS`:
`micro` (seconds, for tests), `tiny` (the embedded CPU default, minutes), `paper` (the paper's real models and
settings, for a GPU cluster). Bad values fail before any work starts with a `UserError` naming the field,
the value and the allowed range.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from tokenworks.errors import UserError, close_matches

PRESET_NAMES = ("micro", "tiny", "paper")


class TokenworksConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)

    # preset name -> field overrides on top of the class defaults
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {"micro": {}, "tiny": {}, "paper": {}}

    @classmethod
    def from_preset(cls, preset: str = "tiny", overrides: dict[str, Any] | None = None) -> "TokenworksConfig":
        """Build from a preset plus `key=value` overrides (flattened dotted keys); validated."""
        if preset not in cls.PRESETS:
            raise UserError(
                f"preset {preset!r} is not defined for {cls.__name__}; allowed: {', '.join(cls.PRESETS)}."
                + close_matches(preset, cls.PRESETS)
            )
        values = _unflatten({**_flatten(cls.PRESETS[preset]), **(overrides or {})})
        valid = set(cls.flat_keys())
        for key in _flatten(values):
            if key not in valid:
                raise UserError(
                    f"unknown config key {key!r} for {cls.__name__}; valid keys: {', '.join(sorted(valid))}."
                    + close_matches(key, valid)
                )
        return cls.validated(values)

    @classmethod
    def validated(cls, values: dict[str, Any]) -> "TokenworksConfig":
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise UserError(describe_validation_error(cls, exc)) from None

    @classmethod
    def flat_keys(cls) -> list[str]:
        return list(_flatten(cls().model_dump()).keys())

    def flatten(self) -> dict[str, Any]:
        """One flat dict with dotted keys: the MLflow params and the Tune search-space keys."""
        return _flatten(self.model_dump(mode="json"))

    def with_overrides(self, overrides: dict[str, Any]) -> "TokenworksConfig":
        return type(self).validated(_unflatten({**self.flatten(), **overrides}))


def parse_set_options(pairs: list[str]) -> dict[str, Any]:
    """['a=1', 'b.c=x'] -> {'a': 1, 'b.c': 'x'}; values parse as JSON when they can, else stay strings."""
    out: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise UserError(f"--set {pair!r} is not of the form key=value.")
        key, raw = pair.split("=", 1)
        try:
            out[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            out[key.strip()] = raw
    return out


def load_config_file(path: str | Path) -> dict[str, Any]:
    """A JSON or YAML file of flat or nested overrides."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"config file {str(p)!r} does not exist.")
    text = p.read_text()
    if p.suffix in (".yaml", ".yml"):
        import yaml

        data = yaml.safe_load(text) or {}
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UserError(f"config file {str(p)!r} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise UserError(f"config file {str(p)!r} must hold a mapping of config keys to values.")
    return _flatten(data)


def describe_validation_error(cls: type[BaseModel], exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"])
        value = err.get("input")
        allowed = _allowed_range(err)
        lines.append(f"{cls.__name__}.{field} = {value!r} is invalid: {err['msg']}{allowed}")
    return "\n".join(lines)


def _allowed_range(err: dict[str, Any]) -> str:
    ctx = err.get("ctx") or {}
    parts = [f"{k} {v}" for k, v in ctx.items() if k in ("ge", "gt", "le", "lt")]
    if "expected" in ctx:
        parts.append(f"one of {ctx['expected']}")
    return f" (allowed: {', '.join(parts)})" if parts else ""


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def _unflatten(flat: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, v in flat.items():
        node = out
        parts = key.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = v
    return out


# --- search spaces, written without Ray so that methods and pipelines stay Ray-free --------------------


@dataclass(frozen=True)
class Choice:
    values: tuple[Any, ...]


@dataclass(frozen=True)
class Uniform:
    low: float
    high: float
    log: bool = False


@dataclass(frozen=True)
class IntRange:
    low: int
    high: int  # inclusive


SearchSpace = dict[str, "Choice | Uniform | IntRange"]
