"""What one process builds and its views and commands share: `app.extensions["policybot"]`.

server.create_app builds the database and the release workflow; each feature module of
server.FEATURES then sets the services it owns (in that order), and leaves None where its
feature is off or not configured: `svc.callback is None` means the WeChat account is not set
up, not that the module failed to load. Code reads them as attributes: a service that a
feature may leave unset is typed as optional here and checked where it is used.

The lifecycle is explicit: what a feature starts (threads, pools, the index's follower) it
registers a closer for with `on_close`, and `close()` stops everything, the last started
first (the database is closed last), once: at process exit (server.py registers one handler
for every app of the process), or by whoever built the app (tests).
"""
from __future__ import annotations

import dataclasses
import logging
import pathlib
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the classes only: building them is each feature module's business
    from flask import Config

    from bot.callback import Callback
    from bot.config import WeChatConfig
    from bot.kvstore import KeyValueStore
    from bot.menu import Menu
    from bot.push.service import Push
    from bot.questionlog import QuestionLog
    from bot.service import BotService
    from bot.subscribers import Subscribers
    from bot.wechat_api import PolicyBotWeChatClient
    from index.service import SearchService
    from insights.service import Insights
    from interpretations.events import Consumer
    from interpretations.workflow import Releases
    from policies.db import Database
    from portal.hashing import HashingPool
    from portal.throttle import LoginThrottle


log = logging.getLogger("policybot")


@dataclasses.dataclass(eq=False)
class Services:
    db: Database
    releases: Releases
    config: Config
    # commands.index: the search index of this process
    search: SearchService | None = None
    # commands.push: subscribers and 定向精准推送; `wechat` builds the API client (None: no account)
    subscribers: Subscribers | None = None
    wechat: Callable[[], PolicyBotWeChatClient] | None = None
    push: Push | None = None
    # commands.bot: the account, the bot, its shared state and the callbacks
    wechat_config: WeChatConfig | None = None
    bot_state: KeyValueStore | None = None
    menu: Menu | None = None
    bot: BotService | None = None
    callback: Callback | None = None               # None: /wechat is disabled
    simulator_callback: Callback | None = None
    # commands.portal: staff sign-in and uploads
    uploads_dir: pathlib.Path | None = None
    login_throttle: LoginThrottle | None = None
    hashing: HashingPool | None = None
    # commands.insights: the question log and what staff learn from it
    questions: QuestionLog | None = None
    insights: Insights | None = None
    insights_consumer: Consumer | None = None
    # what close() stops, in the order it was started
    closers: list[tuple[str, Callable[[], None]]] = dataclasses.field(default_factory=list, repr=False)
    closed: bool = False

    def on_close(self, name: str, close: Callable[[], None]) -> None:
        """`close` stops what a feature started; `name` says what in the log if it fails."""
        self.closers.append((name, close))

    def close(self) -> list[str]:
        """Stop everything, the last started first; a closer that fails is logged and the
        others still run. A second call does nothing. Returns the names of those that failed."""
        if self.closed:
            return []
        self.closed = True
        failed = []
        for name, close in reversed(self.closers):
            try:
                close()
            except Exception:
                log.exception("closing %s failed", name)
                failed.append(name)
        log.info("closed: %s", ", ".join(name for name, _ in reversed(self.closers)))
        return failed
