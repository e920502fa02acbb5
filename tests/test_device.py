"""--device: auto picks CUDA only when torch sees a GPU; asking for one that is not there is one clear error."""

import pytest
import torch

from memreasoner.cli import main
from memreasoner.device import resolve_device
from memreasoner.errors import InputError


def test_auto_is_cpu_without_a_gpu_and_cuda_with_one(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == "cuda"


def test_cpu_passes_and_unknown_devices_are_input_errors():
    assert resolve_device("cpu") == "cpu"
    for bad in ("tpu", "gpu", "cuda:x"):
        with pytest.raises(InputError):
            resolve_device(bad)


def test_cuda_without_a_gpu_is_an_input_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(InputError, match="no CUDA GPU"):
        resolve_device("cuda")


@pytest.mark.parametrize("command", [["train", "--task", "qa1", "--out", "x"], ["eval", "--model", "x", "--task", "qa1"],
                                     ["answer", "--model", "x", "--context", "x", "--question", "q"]])
def test_commands_report_a_missing_gpu_in_one_line(monkeypatch, capsys, tmp_path, command):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x").write_text("Mary went to the garden.\n")  # answer's context must exist to reach the model
    assert main([*command, "--device", "cuda"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--device cuda" in err and "no CUDA GPU" in err, err
