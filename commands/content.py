"""Content commands: import, export, retire-expired, verify-audit, catalogue; and the demo
corpus loaded into an empty instance on first start."""
from __future__ import annotations

import pathlib
import sys

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from commands.services import migrated, started
from interpretations import audit
from interpretations.auditkey import load_seal
from interpretations.coverage import interpretation_coverage
from interpretations.importer import ImportRefused, import_file
from policies import store
from policies.jsonl import write_documents
from policies.titles import book_title
from policies.validity import catalogue, local_today, upcoming


def init_app(app: Flask) -> None:
    _seal_audit_log(app)
    for command in (import_command, export_command, retire_expired_command,
                    verify_audit_command, catalogue_command, load_demo_command):
        app.cli.add_command(command)


def _seal_audit_log(app: Flask) -> None:
    """The audit key for every append of this process, before anything uses the database
    (prepared: on a new instance the key file is created then, not while the app is built);
    a log that ends with entries of before the key gets its sealing entry when the app starts
    (a database write; until then, or in a command that does not start the app, the next
    sealed append protects them just as well)."""
    svc = app.extensions["policybot"]
    data_dir = pathlib.Path(app.config["DATA_DIR"])
    svc.on_prepare("audit key", lambda: audit.use_seal(svc.db.engine, load_seal(app.config, data_dir)))
    svc.on_start("audit seal", lambda: _seal_head(app))


def _seal_head(app: Flask) -> None:
    with app.extensions["policybot"].db.write() as conn:
        if audit.seal_head(conn):
            app.logger.info("audit log: the entries written before the audit key are sealed now")


def services():
    return current_app.extensions["policybot"]


def load_demo_if_empty(app: Flask) -> bool:
    """First start of an empty instance: import the bundled demo corpus (True if it did)."""
    svc = app.extensions["policybot"]
    with svc.db.read() as conn:
        empty = store.document_count(conn) == 0
    if empty:
        report = import_file(svc.releases, app.config["DEMO_CORPUS"])
        app.logger.info("demo corpus imported: %d documents", report.imported)
    return empty


@click.command("load-demo")
@with_appcontext
@started
def load_demo_command() -> None:
    """Import the bundled demo corpus into an empty instance (what `python server.py` does at
    its first start; run once per deploy where several workers start with LOAD_DEMO=0)."""
    load_demo_if_empty(current_app)  # (starting may have done it already: LOAD_DEMO)
    services().index_maintainer.wait_idle(1800)  # every vector in the database before this process exits


@click.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--skip-invalid", is_flag=True, help="Import the valid lines, report the others.")
@with_appcontext
@started
def import_command(file: str, skip_invalid: bool) -> None:
    """Import a JSONL corpus (shared/corpus/FORMAT.md) as published documents."""
    try:
        report = import_file(services().releases, file, skip_invalid=skip_invalid)
    except ImportRefused as refused:
        for error in refused.errors:
            click.echo(str(error), err=True)
        click.echo(f"refused: {refused}", err=True)
        sys.exit(1)
    for error in report.skipped:
        click.echo(f"skipped {error}", err=True)
    click.echo(f"imported {report.imported}, unchanged {report.unchanged}, "
               f"skipped lines {len({e.line for e in report.skipped})}, "
               f"releases {len(report.releases)}")


@click.command("export")
@click.argument("file", type=click.Path(dir_okay=False, writable=True))
@with_appcontext
@migrated
def export_command(file: str) -> None:
    """Export every published document (any validity) to a JSONL file."""
    with services().db.read() as conn:
        docs = store.public_documents(conn)
    click.echo(f"exported {write_documents(file, docs)} documents to {file}")


@click.command("retire-expired")
@click.option("--today", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="The date to retire against (default: today, local time).")
@with_appcontext
@started
def retire_expired_command(today) -> None:
    """Retire published releases whose validity has ended (idempotent; run daily)."""
    day = today.date() if today else local_today(current_app.config["TIMEZONE"])
    retired = services().releases.retire_expired(day)
    for info in retired:
        click.echo(f"retired release {info.id} ({info.policy_id})")
    click.echo(f"{len(retired)} release(s) retired as of {day.isoformat()}")


@click.command("verify-audit")
@click.option("--anchor", type=click.Path(dir_okay=False),
              help="File holding the head (seq and hash) seen last time: a chain cut short "
                   "after it is detected, and the file is updated when all is well.")
@with_appcontext
@migrated
def verify_audit_command(anchor: str | None) -> None:
    """Verify the audit log: its keyed hash chain and its signed checkpoints; name the first
    broken entry."""
    with services().db.read() as conn:
        result = audit.verify(conn)
        seq, head_hash = audit.head(conn)
        anchored = _check_anchor(conn, anchor)
    if not result.ok:
        where = f" at entry {result.first_broken}" if result.first_broken else ""
        click.echo(f"audit log BROKEN{where}: {result.reason} ({result.entries} entries read)", err=True)
        sys.exit(1)
    if not anchored:
        click.echo(f"audit log BROKEN: the entry recorded in {anchor} is gone or changed "
                   "(entries were removed from the end)", err=True)
        sys.exit(1)
    if anchor:
        pathlib.Path(anchor).write_text(f"{seq} {head_hash}\n")
    click.echo(f"audit log intact: {result.entries} entries verified ({result.keyed} sealed with the "
               f"audit key), {result.checkpoints} signed checkpoints match; head {seq} {head_hash}")


def _check_anchor(conn, anchor: str | None) -> bool:
    if not anchor or not pathlib.Path(anchor).exists():
        return True
    seq, expected = pathlib.Path(anchor).read_text().split()
    return audit.matches_anchor(conn, int(seq), expected)


@click.command("catalogue")
@click.option("--topic")
@click.option("--issuing-body")
@with_appcontext
@migrated
def catalogue_command(topic: str | None, issuing_body: str | None) -> None:
    """Print the 现行有效目录 (policies in force today) and the 解读率."""
    today = local_today(current_app.config["TIMEZONE"])
    with services().db.read() as conn:
        docs = catalogue(conn, today, topic=topic, issuing_body=issuing_body)
        soon = [d for d in upcoming(conn, today) if (not topic or topic in d.topics)
                and (not issuing_body or d.issuing_body == issuing_body)]
        coverage = interpretation_coverage(conn, today)
    for doc in docs:
        click.echo(f"{book_title(doc.title)} {doc.doc_number or ''} {doc.issuing_body or ''} "
                   f"{doc.publish_date or ''}".rstrip())
    click.echo(f"{len(docs)} in force on {today.isoformat()}")
    click.echo(f"即将施行 {len(soon)}" + (":" if soon else ""))
    for doc in soon:
        click.echo(f"{book_title(doc.title)} {doc.doc_number or ''} {doc.issuing_body or ''} "
                   f"自{doc.valid_from}起施行".replace("  ", " "))
    click.echo(f"解读率 {coverage.interpreted}/{coverage.major} major policies in force; 解读缺失: "
               + (", ".join(d.id for d in coverage.missing) or "none"))
    if coverage.upcoming:
        later = [f"{d.id} from {d.valid_from.isoformat()}" + ("" if interpreted else " (解读缺失)")
                 for d, interpreted in coverage.upcoming]
        click.echo(f"not counted until in force ({len(later)} major, 即将施行): " + ", ".join(later))
