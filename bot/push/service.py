"""Targeted push wired together: the publication hooks, preview, and senders."""
from __future__ import annotations

import logging

from bot.push.matching import Match, match_release
from bot.push.outbox import CHANNELS, cancel_release, write_outbox
from bot.push.sender import Sender, SenderSettings
from bot.wechat_api import parse_timeout

log = logging.getLogger(__name__)


class Push:
    def __init__(self, db, config, subscribers, client_factory=None):
        self.db, self.config, self.subscribers = db, config, subscribers
        self.client_factory = client_factory
        self.channel = config.get("PUSH_CHANNEL") or "template"
        if self.channel not in CHANNELS:
            raise ValueError(f"PUSH_CHANNEL must be one of {', '.join(CHANNELS)}")
        self.settings = SenderSettings.from_config(config)
        # A live sender lets go of a withdrawn release within one send: one HTTP timeout.
        self.drain_seconds = sum(parse_timeout(config.get("WECHAT_TIMEOUT"))) + 2.0

    def register(self, hooks) -> None:
        hooks.publishing.append(self.on_publishing)
        hooks.removed.append(self.on_removed)

    def on_publishing(self, conn, info) -> None:
        """Inside the publishing transaction: the outbox commits (or not) with it."""
        count = write_outbox(conn, info.id, self.channel)
        log.info("release %s: %d push(es) queued on %s", info.id, count, self.channel)

    def on_removed(self, infos) -> None:
        """Withdrawn or retired: cancel what is pending, wait out sends in flight."""
        for info in infos:
            cancelled = cancel_release(self.db, info.id, f"release {info.state}",
                                       drain_seconds=self.drain_seconds, lease_seconds=self.settings.lease)
            if cancelled:
                log.info("release %s %s: %d pending push(es) cancelled", info.id, info.state, cancelled)

    def check_settings(self) -> None:
        """Refuse to send with a channel whose template is not configured."""
        key = self.missing_setting()
        if key:
            raise ValueError(f"PUSH_CHANNEL is {self.channel}: set POLICYBOT_{key}")

    def missing_setting(self) -> str | None:
        """The setting the channel needs and lacks (its template's id), if any."""
        needs = {"template": ("PUSH_TEMPLATE_ID", self.settings.template_id),
                 "subscribe": ("PUSH_SUBSCRIBE_TEMPLATE_ID", self.settings.subscribe_template_id)}
        key, value = needs.get(self.channel, (None, True))
        return None if value else key

    def preview(self, release_id: int) -> list[Match]:
        with self.db.read() as conn:
            return match_release(conn, release_id)

    def sender(self, name: str | None = None, client=None) -> Sender:
        self.check_settings()
        client = client or self.client_factory()
        return Sender(self.db, client, self.subscribers, self.settings, name=name)
