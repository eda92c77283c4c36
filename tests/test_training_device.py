"""Where `models train` runs BitFit: a CUDA GPU when PyTorch sees one, else the CPU; a GPU
asked for and missing is refused before any work, in Chinese."""
import pytest

torch = pytest.importorskip("torch")

from training.train import DeviceError, training_device  # noqa: E402


def test_auto_takes_a_gpu_when_pytorch_sees_one_and_the_cpu_otherwise(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert training_device("auto") == torch.device("cuda")
    assert training_device("cpu") == torch.device("cpu")  # asked for: kept even with a GPU
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert training_device("auto") == torch.device("cpu")


def test_a_gpu_asked_for_and_missing_is_refused(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(DeviceError, match="看不到 CUDA 显卡"):
        training_device("cuda")
    with pytest.raises(DeviceError, match="只能是 auto、cpu 或 cuda"):
        training_device("tpu")


def test_models_train_refuses_a_missing_gpu_before_it_reads_or_writes_anything(app, tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    out, work = tmp_path / "out", tmp_path / "work"
    result = app.test_cli_runner().invoke(
        args=["models", "train", "--device", "cuda", "--out", str(out), "--work", str(work)])
    assert result.exit_code == 1
    assert "看不到 CUDA 显卡" in result.output
    assert not out.exists() and not work.exists()
