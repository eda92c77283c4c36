"""The WeChat bot feature: configuration check, services, the /wechat callback, the public
H5 pages and the `create-menu` command; and the callback the staff simulator
(portal/views_simulator.py) uses when no official account is configured.

Without any WeChat secret the app runs (pages, search, simulator) and logs that the callback
is disabled; with a bad or partial one it refuses to start (bot.config).
"""
from __future__ import annotations

import json
import logging
import pathlib
import re
import sys
import threading

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from bot.budget import TimeBudget
from bot.callback import Callback
from bot.config import load_wechat_config
from bot.dedupe import Deliveries
from bot.kvstore import store_for
from bot.library import Library
from bot.menu import Menu, MenuError, load_menu
from bot.push.links import profile_url
from bot.replay import ReplayCache
from bot.sender import throwaway_config
from bot.service import BotService, BotSettings
from bot.web import pages, wechat

ROOT = pathlib.Path(__file__).resolve().parent.parent
DEFAULT_MENU = ROOT / "config" / "menu.json"
log = logging.getLogger("policybot.bot")
# Share of the question's content bigrams a passage must cover (bot.relevance), calibrated on
# shared/eval with `flask --app server calibrate-threshold` on the demo corpus (2026-11-27):
# 443 questions, best threshold 0.462 → answerable answered 78.3%, unanswerable refused 87.7%
# (re-run after the dense query focus changed to 48 characters; before: 83.9% / 81.0%).
DEFAULT_THRESHOLD = 0.46


def init_app(app: Flask) -> None:
    wechat_config = load_wechat_config(app.config)  # raises: refuse to start on a bad secret
    svc = app.extensions["policybot"]
    svc.wechat_config = wechat_config
    svc.bot_state = store_for(svc.db, app.config.get("REDIS_URL"))
    svc.menu = _menu(app.config)
    svc.bot = _bot_service(app, svc)
    svc.callback = _callback(app, svc, wechat_config) if wechat_config else None
    # The simulator signs with made-up secrets when no account is configured; /wechat stays off.
    svc.simulator_callback = svc.callback or _callback(app, svc, throwaway_config(
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


def _bot_service(app: Flask, svc) -> BotService:
    config = app.config
    settings = BotSettings(
        public_url=config["PUBLIC_URL"].rstrip("/"),  # server.load_config always sets it
        threshold=float(config.get("BOT_ANSWER_THRESHOLD", DEFAULT_THRESHOLD)),
        timezone=config.get("TIMEZONE", "Asia/Shanghai"),
        certified=config.get("WECHAT_ACCOUNT") == "service-certified",
        menu_actions=svc.menu.actions if svc.menu else {},
        subscription_topics=_names(config.get("SUBSCRIPTION_TOPICS")))
    # BOT_SEARCH: a retriever passed in (tests inject a fake or a slow one); default helper A's.
    search = config.get("BOT_SEARCH") or (lambda query, **kw: _search(svc, query, **kw))
    return BotService(
        search=search, library=Library(svc.db),
        state=svc.bot_state, budget=TimeBudget(float(config.get("BOT_TIME_BUDGET", 4.0))),
        settings=settings, subscribers=_Late(svc, "subscribers"), questions=_Late(svc, "questions"),
        send_customer_message=lambda openid, text: _send_customer_message(svc, openid, text),
        template_event_handler=lambda fields: _template_event(svc, fields),
        profile_link=lambda openid: profile_url(config, svc.subscribers, openid))


def _names(value) -> tuple[str, ...]:
    """A list setting given as a list, or as text separated by 、, commas or spaces."""
    if isinstance(value, str):
        value = re.split(r"[、,，\s]+", value)
    return tuple(v.strip() for v in value or () if v and v.strip())


def _callback(app: Flask, svc, wechat_config) -> Callback:
    return Callback(wechat_config, ReplayCache(svc.bot_state), Deliveries(svc.bot_state), svc.bot,
                    budget_seconds=float(app.config.get("BOT_TIME_BUDGET", 4.0)))


def _search(svc, query: str, **kw):
    search = getattr(svc, "search", None)
    return search.search(query, **kw) if search is not None else []


class _Late:
    """A collaborator another feature attaches to the services (maybe after this one)."""

    def __init__(self, svc, name: str):
        self._svc, self._name = svc, name

    def __bool__(self) -> bool:
        return getattr(self._svc, self._name, None) is not None

    def __getattr__(self, attr):
        target = getattr(self._svc, self._name, None)
        if target is None:
            raise AttributeError(f"{self._name} is not available")
        return getattr(target, attr)


_clients = threading.local()


def _wechat_client(svc):
    """helper D's client factory, called once per thread (its token store is shared)."""
    if getattr(_clients, "client", None) is None:
        _clients.client = svc.wechat()
    return _clients.client


def _send_customer_message(svc, openid: str, text: str) -> bool:
    """The late answer as ONE customer-service message; False (keep it) when not possible."""
    if getattr(svc, "wechat", None) is None or getattr(svc, "subscribers", None) is None:
        return False
    from bot.wechat_api import CustomerService, QuotaExhausted

    try:
        CustomerService(_wechat_client(svc), svc.subscribers).send_text(openid, text)
        return True
    except QuotaExhausted:  # 45015/45047 or 5 used: no retry loop, keep it for the next message
        return False
    except Exception:
        log.exception("customer-service message failed")
        return False


def _template_event(svc, fields: dict) -> None:
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
    factory = getattr(current_app.extensions["policybot"], "wechat", None)
    if factory is None or not config.get("WECHAT_APPID"):
        click.echo("WeChat API client not configured (POLICYBOT_WECHAT_APPID/_APPSECRET)", err=True)
        sys.exit(1)
    result = factory().menu.create(menu.wechat_payload)
    click.echo(f"menu created: {result}")


@click.command("calibrate-threshold")
@click.option("--eval-dir", type=click.Path(exists=True, file_okay=False), required=True,
              help="shared/eval (demo-faq.jsonl, stard-train.jsonl)")
@click.option("--stard-sample", type=int, default=300, show_default=True)
@with_appcontext
def calibrate_command(eval_dir: str, stard_sample: int) -> None:
    """Calibrate the bot's "not found" threshold on labelled questions (prints the figures)."""
    from bot.calibration import calibrate, labelled_questions, signals
    from policies import store

    svc = current_app.extensions["policybot"]
    with svc.db.read() as conn:
        demo_ids = {d.id for d in store.public_documents(conn)}
    questions = labelled_questions(pathlib.Path(eval_dir), demo_ids, stard_sample)
    result = calibrate(signals(questions, svc.bot.search))
    click.echo(f"questions {len(questions)}; threshold {result.threshold:.3f}; "
               f"answered of answerable {result.answered_of_answerable:.1%}; "
               f"refused of unanswerable {result.refused_of_unanswerable:.1%}; "
               f"balanced accuracy {result.balanced_accuracy:.1%}")
    for source, count in result.counts.items():
        click.echo(f"  {source}: {count}")
