"""`--device`: which torch device a command runs a model on."""

from __future__ import annotations

from .errors import InputError

DEVICE_HELP = "auto (cuda when torch sees a GPU, else cpu), cpu, cuda or cuda:N"


def resolve_device(name: str) -> str:
    """`auto` -> "cuda" or "cpu"; anything else is checked here, so that asking for a GPU torch cannot
    use is one clear error rather than a stack trace from deep inside the first `.to()`."""
    import torch  # here, not at module level: `memreasoner --help` stays fast

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError:
        raise InputError(f"--device {name!r}: expected {DEVICE_HELP}") from None
    if device.type not in ("cpu", "cuda"):
        raise InputError(f"--device {name!r}: expected {DEVICE_HELP}")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise InputError(f"--device {name}: torch sees no CUDA GPU (torch {torch.__version__}); use --device cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise InputError(f"--device {name}: torch sees only {torch.cuda.device_count()} CUDA GPU(s)")
    return name
