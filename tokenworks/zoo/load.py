"""One way to name a model everywhere: a zoo name, a local directory, or a Hugging Face id."""

from __future__ import annotations

import socket
from pathlib import Path
from urllib.parse import urlparse

import torch
from huggingface_hub import constants as hub_constants
from huggingface_hub.utils import HFValidationError, validate_repo_id
from transformers import AutoModelForCausalLM, AutoTokenizer

from tokenworks.errors import UserError, close_matches
from tokenworks.runtime import device_name
from tokenworks.zoo.recipes import ZOO, ensure_extensions
from tokenworks.zoo.registry import build, built_dir, read_metadata

HUB_PROBE_TIMEOUT_S = 3.0


def resolve(name_or_path: str, build_if_missing: bool = True) -> str:
    """A local directory for zoo names and paths (building a zoo model if asked); other strings unchanged."""
    ensure_extensions()
    if name_or_path in ZOO:
        path = built_dir(name_or_path)
        if path is None:
            if not build_if_missing:
                raise UserError(
                    f"zoo model {name_or_path!r} is not built yet; build it with `tokenworks zoo build {name_or_path}` "
                    "or pass build_if_missing=True."
                )
            path = build(name_or_path)
        return str(path)
    local = Path(name_or_path).expanduser()
    return str(local) if local.is_dir() else name_or_path


def _load(source: str, **kwargs):
    tokenizer = AutoTokenizer.from_pretrained(source, **kwargs)
    model = AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32, **kwargs)
    return model, tokenizer


def hub_unavailable_reason(repo_id: str) -> str | None:
    """Why `repo_id` cannot be fetched, found without the hub client's minute of retries; None to go ahead."""
    try:
        validate_repo_id(repo_id)
    except HFValidationError:
        return "it is not of the form 'name' or 'namespace/name'"
    if hub_constants.HF_HUB_OFFLINE:
        return "HF_HUB_OFFLINE is set and it is not in the local Hugging Face cache"
    host = urlparse(hub_constants.ENDPOINT).hostname or "huggingface.co"
    try:
        socket.create_connection((host, 443), timeout=HUB_PROBE_TIMEOUT_S).close()
    except OSError as exc:
        return f"the hub ({host}) is unreachable: {exc}"
    return None


def _load_from_hub(name: str):
    try:
        return _load(name, local_files_only=True)  # already in the Hugging Face cache
    except Exception:  # noqa: BLE001 - not cached (or not loadable offline): try the hub below
        pass
    reason = hub_unavailable_reason(name)
    if reason is None:
        try:
            return _load(name)
        except Exception as exc:  # noqa: BLE001 - the hub client raises many types; all mean "cannot fetch"
            reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    raise UserError(
        f"model {name!r} is not a zoo name (zoo names: {', '.join(ZOO)}), not an existing local directory "
        f"({str(Path(name).expanduser().absolute())!r} does not exist) and could not be fetched as a Hugging "
        f"Face id ({reason})." + close_matches(name, ZOO)
    )


def load_lm(name_or_path: str, device: str | None = None, build_if_missing: bool = True):
    """(model, tokenizer): the model in eval mode, fp32, on `device` (default: cuda if present, else cpu)."""
    source = resolve(name_or_path, build_if_missing)
    if Path(source).is_dir():
        try:
            model, tokenizer = _load(source)
        except Exception as exc:  # noqa: BLE001
            raise UserError(f"model directory {source!r} exists but does not load as a causal LM: {exc}") from exc
    else:
        model, tokenizer = _load_from_hub(source)
    return model.to(device or device_name()).eval(), tokenizer


def zoo_bits_per_byte(name_or_path: str) -> float | None:
    """Validation bits per byte from zoo.json (a zoo name, built or not, or a zoo-built directory), else None."""
    ensure_extensions()
    if name_or_path in ZOO:
        path = built_dir(name_or_path)
        metadata = read_metadata(path) if path else None
    else:
        local = Path(name_or_path).expanduser()
        metadata = read_metadata(local) if local.is_dir() else None
    return metadata.get("val_bits_per_byte") if metadata else None
