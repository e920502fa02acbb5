"""Checkpoint folders, written atomically: what MemReasoner and every baseline save through.

A checkpoint is a folder holding `config.json` (the model's dataclass config) and `model.safetensors`
(its weights), plus whatever a trainer adds (trainer state, metrics).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from .errors import InputError
from .files import read_json

CONFIG_FILE, WEIGHTS_FILE = "config.json", "model.safetensors"


@contextlib.contextmanager
def replace_folder(path: str | Path):
    """Yield a fresh temporary folder next to `path`; on success it replaces `path` in two renames.

    A crash leaves either the old folder or the new one at `path`, never a half-written one.
    Refuses to replace a non-empty folder that is not a checkpoint (no config.json).
    """
    path = Path(path)
    if path.exists() and (not path.is_dir() or (any(path.iterdir()) and not (path / CONFIG_FILE).exists())):
        raise InputError("exists and is not a checkpoint folder; refusing to overwrite it", path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    try:
        yield tmp
        old = path.with_name(f".{path.name}.old-{tmp.name.rsplit('-', 1)[-1]}")
        if path.exists():
            path.rename(old)
        tmp.rename(path)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def save_folder(path: str | Path, config, module: nn.Module, extra: Callable[[Path], None] | None = None) -> None:
    """Replace the folder `path` atomically by config.json (the dataclass `config`) + model.safetensors;
    `extra(folder)` may add files (trainer state, metrics) that land in the same atomic swap."""
    with replace_folder(path) as tmp:
        (tmp / CONFIG_FILE).write_text(json.dumps(asdict(config), indent=2) + "\n")
        save_file(cpu_weights(module), str(tmp / WEIGHTS_FILE), metadata={"format": "pt"})
        if extra is not None:
            extra(tmp)


def memory_key(tensor: torch.Tensor) -> tuple:
    """Equal for two names of one tied tensor (GPT-2's input and output embeddings), distinct otherwise."""
    return tensor.device, tensor.data_ptr(), tensor.dtype, tuple(tensor.shape), tensor.stride()


def cpu_weights(module: nn.Module) -> dict[str, torch.Tensor]:
    """The module's state as CPU tensors that each own their memory, a tied tensor under its first name only.
    On a GPU cuDNN packs an RNN's weights into one buffer, parts of which safetensors' `save_model` refuses."""
    kept, out = set(), {}
    for name, tensor in module.state_dict().items():
        if memory_key(tensor) not in kept:
            kept.add(memory_key(tensor))
            out[name] = tensor.detach().to("cpu", copy=True).contiguous()
    return out


def read_config(path: str | Path, model: str) -> dict:
    """The config.json of checkpoint folder `path` as a dict; one-line errors for a missing or broken one."""
    path = Path(path)
    config_file, weights = path / CONFIG_FILE, path / WEIGHTS_FILE
    if not config_file.is_file() or not weights.is_file():
        raise InputError(f"not a {model} checkpoint (needs {CONFIG_FILE} and {WEIGHTS_FILE})", path)
    obj = read_json(config_file)
    if not isinstance(obj, dict):
        raise InputError(f"holds a JSON {type(obj).__name__}, not an object of {model} settings", config_file)
    return obj


def check_weights_file(path: str | Path) -> None:
    """One-line InputError if `path` is not a whole safetensors file (cut short, or something else);
    reads only its header, which records how long the file must be."""
    try:
        with safe_open(str(path), framework="pt"):
            pass
    except SafetensorError as err:
        raise InputError(f"damaged weights file ({str(err).splitlines()[0]})", path) from None


def load_weights(module: nn.Module, path: str | Path) -> None:
    """Read model.safetensors of folder `path` into `module`; every tensor must be there and fit."""
    weights = Path(path) / WEIGHTS_FILE
    check_weights_file(weights)
    own = module.state_dict()
    try:
        state = load_file(str(weights))
        missing, unexpected = module.load_state_dict(state, strict=False)
    except RuntimeError as err:  # a tensor of another shape than the config builds
        mismatch = next((line.strip() for line in str(err).splitlines() if "size mismatch" in line), str(err))
        raise InputError(f"weights do not fit the config ({mismatch})", weights) from None
    written = {memory_key(own[name]) for name in state if name in own}
    missing = [name for name in missing if memory_key(own[name]) not in written]  # tied: read under another name
    if missing or unexpected:
        raise InputError(f"weights do not fit the config (missing {sorted(missing)[:3]}, unexpected "
                         f"{sorted(unexpected)[:3]})", weights)
