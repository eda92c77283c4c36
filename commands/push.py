"""Targeted push: services, publication hooks, pages and the `push` commands.

    flask --app server push preview RELEASE_ID     who would get it, and why (nothing is sent)
    flask --app server push run [--continuous]     send what is due (several may run at once)
    flask --app server push stats [RELEASE_ID]     matched / sent / failed / unknown
    flask --app server push unknown [RELEASE_ID]   rows a person must decide
    flask --app server push decide ROW sent|failed|resend --by NAME
    flask --app server push resume API             after a 45009 pause (never automatic)
"""
from __future__ import annotations

import signal
import sys

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

from bot.push import outbox
from bot.push.sender import paused_apis, resume
from bot.push.service import Push
from bot.push.views import h5
from bot.subscribers import Subscribers
from bot.wechat_api import make_client
from commands.services import migrated

push_cli = AppGroup("push", help="Targeted push (定向精准推送).")


def init_app(app: Flask) -> None:
    svc = app.extensions["policybot"]
    config = app.config
    svc.subscribers = Subscribers(svc.db, secret=config.get("OPENID_KEY"), open_now=False)
    # The database's openid key (created on a new instance) once the schema is there: at start,
    # or before a command that uses the database (Services.migrate), never while building.
    svc.on_migrated("openid key", svc.subscribers.open)
    configured = bool(config.get("WECHAT_APPID") and config.get("WECHAT_APPSECRET"))
    svc.wechat = (lambda: make_client(config, svc.db)) if configured else None
    svc.push = Push(svc.db, config, svc.subscribers, svc.wechat)
    svc.push.register(svc.releases.hooks)
    app.register_blueprint(h5)
    app.cli.add_command(push_cli)


def _svc():
    return current_app.extensions["policybot"]


@push_cli.command("preview")
@click.argument("release_id", type=int)
@click.option("--limit", default=50, help="How many matches to list (all are counted).")
@with_appcontext
@migrated
def preview_command(release_id: int, limit: int) -> None:
    """Who a release would be pushed to, with the reason each would see (sends nothing)."""
    matches = _svc().push.preview(release_id)
    for match in matches[:limit]:
        click.echo(f"subscriber {match.subscriber_id}: {match.reason}")
    click.echo(f"{len(matches)} subscriber(s) match release {release_id} "
               f"(channel {_svc().push.channel})")


@push_cli.command("run")
@click.option("--continuous", is_flag=True, help="Keep running; otherwise stop when nothing is due.")
@click.option("--name", default=None, help="Unique per live sender; a restart under the same "
                                           "name recovers its own interrupted rows at once.")
@with_appcontext
@migrated
def run_command(continuous: bool, name: str | None) -> None:
    """Send due pushes (several senders may run at once)."""
    svc = _svc()
    if svc.wechat is None:
        click.echo("WeChat is not configured (POLICYBOT_WECHAT_APPID / _APPSECRET)", err=True)
        sys.exit(1)
    try:
        sender = svc.push.sender(name=name)
    except ValueError as error:
        click.echo(str(error), err=True)
        sys.exit(1)
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    report = sender.run(once=not continuous, should_stop=lambda: bool(stopping))
    click.echo(f"claimed {report.claimed}, sent {report.sent}, failed {report.failed}, unknown "
               f"{report.unknown}, retry later {report.retried}, cancelled {report.cancelled}"
               + (f"; PAUSED {', '.join(report.paused)} (45009)" if report.paused else ""))


@push_cli.command("stats")
@click.argument("release_id", type=int, required=False)
@with_appcontext
@migrated
def stats_command(release_id: int | None) -> None:
    """Matched / pending / sent / failed / unknown / cancelled per release."""
    db = _svc().db
    rows = [dict(release_id=release_id, **outbox.release_stats(db, release_id))] if release_id \
        else outbox.all_release_stats(db)
    for row in rows:
        click.echo(" ".join(f"{k}={v}" for k, v in row.items()))
    for api, until in paused_apis(db).items():
        click.echo(f"PAUSED {api} until {until} (45009; resume with: push resume {api})")


@push_cli.command("unknown")
@click.argument("release_id", type=int, required=False)
@with_appcontext
@migrated
def unknown_command(release_id: int | None) -> None:
    """Rows whose delivery is unknown (a person decides)."""
    rows = outbox.unknown_rows(_svc().db, release_id)
    for row in rows:
        click.echo(f"row {row['id']} release {row['release_id']} subscriber {row['subscriber_id']} "
                   f"{row['channel']} attempts {row['attempts']}: {row['error']}")
    click.echo(f"{len(rows)} unknown row(s)")


@push_cli.command("decide")
@click.argument("row_id", type=int)
@click.argument("decision", type=click.Choice(sorted(outbox.DECISIONS)))
@click.option("--by", required=True, help="Who decides (recorded).")
@with_appcontext
@migrated
def decide_command(row_id: int, decision: str, by: str) -> None:
    """Settle an unknown row: sent, failed, or resend (accepting a possible duplicate)."""
    try:
        outbox.decide_unknown(_svc().db, row_id, decision, by)
    except ValueError as error:
        click.echo(str(error), err=True)
        sys.exit(1)
    click.echo(f"row {row_id}: {decision}")


@push_cli.command("resume")
@click.argument("api")
@with_appcontext
@migrated
def resume_command(api: str) -> None:
    """Resume an API paused on 45009 (after the quota was checked; never automatic)."""
    click.echo(f"{api} resumed" if resume(_svc().db, api) else f"{api} was not paused")
