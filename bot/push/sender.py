"""The push sender (`push run`): claims outbox rows, sends them, records the outcome.

Never lose, never duplicate:
- rows are claimed atomically (pending → sending, with a claim token; PostgreSQL
  `FOR UPDATE SKIP LOCKED`, SQLite's write lock), so several senders may run at once;
- before each send the release must still be published and the subscriber eligible;
- a crash leaves rows in `sending`; when their lease runs out (or the same-named sender
  restarts) a template row still inside WeChat's 10-minute client_msg_id window goes back to
  pending (a resend is deduplicated by WeChat); any other goes to `unknown` for a person;
- -1, 5xx and timeouts are retried with exponential backoff and jitter, but an ambiguous
  failure (timeout, 5xx: WeChat may have sent it) is retried only under the dedupe window;
- 45009 (daily quota) puts the row back, pauses that API and alerts; the quota is never
  cleared; 43004/40003/43101 (the user cannot receive) fail the row and mark the subscriber.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import random
import socket
import time
import uuid
from zoneinfo import ZoneInfo

import requests
import sqlalchemy as sa
from wechatpy.exceptions import WeChatClientException

from bot.push import message
from bot.push.outbox import mark_subscriber, utcnow
from bot.push.ratelimit import RateLimiter
from bot.push.tables import outbox, push_control, subscribers
from bot.wechat_api import CustomerService, QuotaExhausted, TokenUnavailable, redact
from interpretations.tables import releases
from policies.validity import DEFAULT_TIMEZONE

log = logging.getLogger(__name__)

SUBSCRIBER_ERRORS = {43004: "unfollowed (43004)", 40003: "invalid openid (40003)",
                     43101: "refuses messages (43101)", 43019: "blacklisted (43019)"}
QUOTA_ERRORS = {45009}
NOT_DELIVERED_ERRORS = {-1, 40001, 40014, 42001, 45011}  # system busy, token trouble, too fast
WINDOW_ERRORS = {45015, 45047}
IDEMPOTENT_CHANNELS = {"template"}  # client_msg_id: WeChat delivers a resend once within 10 min


@dataclasses.dataclass
class SenderSettings:
    channel_apis = {"template": "template", "subscribe": "subscribe", "custom": "custom"}
    template_id: str | None = None
    template_fields: dict = dataclasses.field(default_factory=lambda: dict(message.DEFAULT_TEMPLATE_FIELDS))
    subscribe_template_id: str | None = None
    subscribe_fields: dict = dataclasses.field(default_factory=lambda: dict(message.DEFAULT_SUBSCRIBE_FIELDS))
    public_url: str = "http://127.0.0.1:8000"
    rates: dict = dataclasses.field(  # calls per second, per sender process
        default_factory=lambda: {"template": 20.0, "subscribe": 20.0, "custom": 10.0})
    batch: int = 50
    lease: float = 120.0  # a claim older than this (not renewed) is presumed dead
    max_attempts: int = 6
    backoff_base: float = 2.0
    backoff_max: float = 300.0
    dedupe_window: float = 540.0  # WeChat's is 600 s; keep a margin for clocks and transit
    pause_seconds: float | None = None  # None: until the next local midnight (quota reset)
    timezone: str = DEFAULT_TIMEZONE

    @classmethod
    def from_config(cls, config) -> SenderSettings:
        settings = cls(template_id=config.get("PUSH_TEMPLATE_ID"),
                       subscribe_template_id=config.get("PUSH_SUBSCRIBE_TEMPLATE_ID"),
                       public_url=config.get("PUBLIC_URL") or cls.public_url,
                       timezone=config.get("TIMEZONE") or cls.timezone)
        for key, attr in (("PUSH_TEMPLATE_FIELDS", "template_fields"),
                          ("PUSH_SUBSCRIBE_FIELDS", "subscribe_fields"), ("PUSH_RATES", "rates")):
            if config.get(key):
                value = config[key]
                setattr(settings, attr, dict(json.loads(value) if isinstance(value, str) else value))
        for key, attr, kind in (("PUSH_BATCH", "batch", int), ("PUSH_LEASE_SECONDS", "lease", float),
                                ("PUSH_MAX_ATTEMPTS", "max_attempts", int),
                                ("PUSH_BACKOFF_BASE", "backoff_base", float),
                                ("PUSH_PAUSE_SECONDS", "pause_seconds", float)):
            if config.get(key) not in (None, ""):
                setattr(settings, attr, kind(config[key]))
        return settings


@dataclasses.dataclass
class SendOutcome:
    state: str  # sent | pending | failed | unknown | cancelled
    values: dict = dataclasses.field(default_factory=dict)
    pause: str | None = None  # the API to pause (45009)
    defer_batch: bool = False  # no token: the rest of the batch would fail the same way


@dataclasses.dataclass
class SendReport:
    claimed: int = 0
    sent: int = 0
    failed: int = 0
    unknown: int = 0
    retried: int = 0
    cancelled: int = 0
    paused: list = dataclasses.field(default_factory=list)


class Sender:
    def __init__(self, db, client, subscribers_service, settings: SenderSettings,
                 name: str | None = None, alert=None, limiter: RateLimiter | None = None):
        self.db, self.client, self.subs, self.settings = db, client, subscribers_service, settings
        self.name = name or f"{socket.gethostname()}:{uuid.uuid4().hex[:8]}"
        self.alert = alert or (lambda text: log.error("PUSH ALERT: %s", text))
        self.limiter = limiter or RateLimiter(settings.rates)
        self.customer_service = CustomerService(client, subscribers_service)
        self._summaries: dict[int, message.ReleaseSummary | None] = {}
        self._claim: str | None = None
        self._claimed_at = 0.0

    # -- the loop --------------------------------------------------------------------------
    def run(self, once: bool = True, idle_sleep: float = 2.0, should_stop=lambda: False) -> SendReport:
        """Send until nothing is due (once) or until `should_stop()` (continuous)."""
        report = SendReport()
        self.recover(own=True)
        while not should_stop():
            done = self.step(report)
            if done:
                continue
            if once:
                break
            time.sleep(idle_sleep)
        return report

    def step(self, report: SendReport) -> int:
        """Recover stale claims, claim a batch, send it; the number of rows claimed."""
        self.recover(own=False)
        rows = self.claim()
        report.claimed += len(rows)
        outcomes = []
        paused: set[str] = set()
        deferred_until = None
        for row in rows:
            if row["channel"] in paused or deferred_until:
                outcome = SendOutcome("pending", {"attempts": row["attempts"] - 1, **_restart_window(row),
                                              "next_attempt_at": deferred_until or utcnow()})
            else:
                outcome = self.process(row)
            if outcome.pause:
                paused.add(row["channel"])
                self.pause(outcome.pause, row, report)
            if outcome.defer_batch:
                deferred_until = outcome.values.get("next_attempt_at") or utcnow()
            if row["channel"] in IDEMPOTENT_CHANNELS:
                outcomes.append((row, outcome))  # recorded per batch: a crash resends, deduplicated
            else:
                self.record([(row, outcome)], report)  # no idempotency key: at most 1 unknown per crash
            self._renew_if_due()
        self.record(outcomes, report)
        return len(rows)

    # -- claiming ---------------------------------------------------------------------------
    def claim(self) -> list[dict]:
        self._claim = f"{self.name}:{uuid.uuid4().hex}"
        now = utcnow()
        with self.db.write() as conn:
            blocked = _paused_apis(conn, now)
            due = (sa.select(outbox.c.id).join(releases, releases.c.id == outbox.c.release_id)
                   .where(outbox.c.state == "pending", outbox.c.next_attempt_at <= now,
                          releases.c.state == "published", outbox.c.channel.not_in(blocked or [""]))
                   .order_by(outbox.c.id).limit(self.settings.batch)
                   .with_for_update(skip_locked=True, of=outbox))
            ids = list(conn.execute(due).scalars())
            if not ids:
                return []
            conn.execute(outbox.update().where(outbox.c.id.in_(ids), outbox.c.state == "pending")
                         .values(state="sending", claim=self._claim, claimed_at=now,
                                 attempts=outbox.c.attempts + 1, updated_at=now,
                                 first_attempt_at=_attempt_start_on_claim(now)))
            rows = conn.execute(sa.select(outbox).where(outbox.c.id.in_(ids),
                                                        outbox.c.claim == self._claim)
                                .order_by(outbox.c.id)).mappings().all()
        self._claimed_at = time.monotonic()
        return [dict(r) for r in rows]

    def _renew_if_due(self) -> None:
        """Keep a long batch's claim fresh, so nobody presumes this sender dead."""
        if time.monotonic() - self._claimed_at < self.settings.lease / 3:
            return
        with self.db.write() as conn:
            conn.execute(outbox.update().where(outbox.c.claim == self._claim,
                                               outbox.c.state == "sending")
                         .values(claimed_at=utcnow()))
        self._claimed_at = time.monotonic()

    def recover(self, own: bool) -> int:
        """Rows left in `sending` by a dead sender (or by our own previous incarnation)."""
        now = utcnow()
        if own:
            stale = outbox.c.claim.startswith(f"{self.name}:", autoescape=True)
        else:
            stale = outbox.c.claimed_at < now - dt.timedelta(seconds=self.settings.lease)
        window_start = now - dt.timedelta(seconds=self.settings.dedupe_window)
        with self.db.write() as conn:
            resend = conn.execute(outbox.update().where(
                outbox.c.state == "sending", stale, outbox.c.channel.in_(IDEMPOTENT_CHANNELS),
                outbox.c.first_attempt_at > window_start)
                .values(state="pending", ambiguous=True, claim=None, next_attempt_at=now,
                        updated_at=now, error="sender died mid-send; resent under client_msg_id")).rowcount
            resend += conn.execute(outbox.update().where(  # claimed, but no send was started
                outbox.c.state == "sending", stale, outbox.c.channel.not_in(IDEMPOTENT_CHANNELS),
                outbox.c.first_attempt_at.is_(None))
                .values(state="pending", claim=None, next_attempt_at=now, updated_at=now,
                        attempts=outbox.c.attempts - 1)).rowcount
            unknown = conn.execute(outbox.update().where(outbox.c.state == "sending", stale)
                                   .values(state="unknown", claim=None, updated_at=now,
                                           error="sender died mid-send; WeChat may have delivered it")
                                   ).rowcount
        if resend or unknown:
            log.warning("recovered %d stale row(s): %d to resend, %d unknown",
                        resend + unknown, resend, unknown)
        return resend + unknown

    # -- one row ------------------------------------------------------------------------------
    def process(self, row: dict) -> SendOutcome:
        with self.db.read() as conn:
            why_not, openid_enc = _eligibility(conn, row)
            summary = self._summary(conn, row["release_id"])
        if why_not is not None:
            return SendOutcome("cancelled", {"error": why_not})
        if summary is None:
            return SendOutcome("failed", {"error": "release has no document"})
        try:
            openid = self.subs.openid_of(openid_enc)
        except Exception:  # a wrong OPENID_KEY: every row would fail the same way
            self.alert("cannot decrypt a subscriber's openid: is OPENID_KEY the one used to store it?")
            return SendOutcome("failed", {"error": "openid cannot be decrypted (OPENID_KEY?)"})
        self.limiter.acquire(row["channel"])
        if row["channel"] not in IDEMPOTENT_CHANNELS:
            self._mark_send_started(row)
        try:
            result = self._send(row, summary, openid)
        except Exception as error:  # classified below; nothing escapes the loop
            return self._failure(row, error)
        return SendOutcome("sent", {"wechat_msg_id": str(result.get("msgid") or "") or None,
                                "error": None, "error_code": None})

    def _mark_send_started(self, row: dict) -> None:
        """Without an idempotency key, only a row whose send was started may have reached
        WeChat: record that before sending, so a crash leaves at most this row unknown."""
        with self.db.write() as conn:
            conn.execute(outbox.update().where(outbox.c.id == row["id"], outbox.c.claim == self._claim)
                         .values(first_attempt_at=utcnow()))

    def _send(self, row: dict, summary, openid: str) -> dict:
        reason, settings = row["reason"], self.settings
        url = message.document_url(settings.public_url, summary.doc_id)
        if row["channel"] == "template":
            data = message.render_fields(settings.template_fields, summary, reason)
            return self.client.send_template(openid, settings.template_id, data, url=url,
                                             client_msg_id=row["client_msg_id"])
        if row["channel"] == "subscribe":
            data = message.render_fields(settings.subscribe_fields, summary, reason)
            return self.client.send_subscribe(openid, settings.subscribe_template_id, data, page=url)
        return self.customer_service.send_text(openid, message.render_text(summary, reason, url))

    def _failure(self, row: dict, error: Exception) -> SendOutcome:
        code = getattr(error, "errcode", None)
        detail = getattr(error, "errmsg", None) if code is not None else str(error)
        text = redact(f"{type(error).__name__}: {code if code is not None else ''} {detail or ''}").strip()
        if isinstance(error, TokenUnavailable):  # nothing was sent
            if code not in (None, -1):
                self.alert(f"WeChat refuses the access_token request ({code}): check AppID, "
                           "AppSecret and the API IP whitelist")
            outcome = self._retry(row, code, text, ambiguous=False)
            outcome.defer_batch = True
            return outcome
        if isinstance(error, QuotaExhausted) or code in WINDOW_ERRORS:
            return SendOutcome("failed", {"error_code": code, "error": "customer-service window closed"})
        if code in QUOTA_ERRORS:
            return SendOutcome("pending", {"attempts": row["attempts"] - 1, "error_code": code,
                                       "error": "daily quota reached (45009)", **_restart_window(row)},
                           pause=row["channel"])
        if code in SUBSCRIBER_ERRORS:
            return SendOutcome("failed", {"error_code": code, "error": SUBSCRIBER_ERRORS[code],
                                      "_mark": SUBSCRIBER_ERRORS[code]})
        if _not_delivered(error, code):
            return self._retry(row, code, text, ambiguous=False)
        if _ambiguous(error, code):
            return self._retry(row, code, text, ambiguous=True)
        return SendOutcome("failed", {"error_code": code, "error": text[:500]})

    def _retry(self, row: dict, code, text: str, ambiguous: bool) -> SendOutcome:
        ambiguous = ambiguous or row["ambiguous"]
        delay = backoff(row["attempts"], self.settings.backoff_base, self.settings.backoff_max)
        values = {"error_code": code, "error": text[:500], "ambiguous": ambiguous}
        if row["attempts"] >= self.settings.max_attempts:
            return SendOutcome("unknown" if ambiguous else "failed", values)
        if ambiguous and not self._resend_is_deduplicated(row, delay):
            return SendOutcome("unknown", values)
        values["next_attempt_at"] = utcnow() + dt.timedelta(seconds=delay)
        if not ambiguous:
            values.update(_restart_window(row))
        return SendOutcome("pending", values)

    def _resend_is_deduplicated(self, row: dict, delay: float) -> bool:
        if row["channel"] != "template" or row["first_attempt_at"] is None:
            return False
        first = _aware(row["first_attempt_at"])
        window_end = first + dt.timedelta(seconds=self.settings.dedupe_window)
        return utcnow() + dt.timedelta(seconds=delay) < window_end

    def _summary(self, conn, release_id: int):
        if release_id not in self._summaries:
            self._summaries[release_id] = message.summary_of(conn, release_id)
        return self._summaries[release_id]

    # -- recording --------------------------------------------------------------------------
    def record(self, outcomes: list[tuple[dict, SendOutcome]], report: SendReport) -> None:
        """One transaction per batch; only rows still under our claim are written."""
        if not outcomes:
            return
        now = utcnow()
        with self.db.write() as conn:
            for row, outcome in outcomes:
                values = dict(outcome.values)
                mark = values.pop("_mark", None)
                conn.execute(outbox.update().where(outbox.c.id == row["id"], outbox.c.claim == self._claim,
                                                   outbox.c.state == "sending")
                             .values(state=outcome.state, updated_at=now, **values))
                if mark:
                    mark_subscriber(conn, row["subscriber_id"], mark)
                _count(report, outcome)

    def pause(self, api: str, row: dict, report: SendReport) -> None:
        until = self._pause_until()
        with self.db.write() as conn:
            updated = conn.execute(push_control.update().where(push_control.c.api == api).values(
                paused_until=until, reason="45009 daily quota reached", updated_at=utcnow())).rowcount
            if not updated:
                conn.execute(push_control.insert().values(api=api, paused_until=until,
                                                          reason="45009 daily quota reached",
                                                          updated_at=utcnow()))
        report.paused.append(api)
        self.alert(f"WeChat {api} API daily quota reached (45009): pushes paused until "
                   f"{until.isoformat()}; the quota is NOT cleared automatically "
                   f"(release {row['release_id']})")

    def _pause_until(self) -> dt.datetime:
        if self.settings.pause_seconds is not None:
            return utcnow() + dt.timedelta(seconds=self.settings.pause_seconds)
        zone = ZoneInfo(self.settings.timezone)
        local = dt.datetime.now(zone)
        midnight = dt.datetime.combine(local.date() + dt.timedelta(days=1), dt.time(0, 5), zone)
        return midnight.astimezone(dt.UTC)


# -- helpers ------------------------------------------------------------------------------------

def _attempt_start_on_claim(now: dt.datetime):
    """Template rows: WeChat's dedupe window is counted from the first claim (conservative).
    Other channels: set only when a send is really started (`_mark_send_started`)."""
    return sa.case((outbox.c.channel.in_(IDEMPOTENT_CHANNELS),
                    sa.func.coalesce(outbox.c.first_attempt_at, now)),
                   else_=outbox.c.first_attempt_at)


def _restart_window(row: dict) -> dict:
    """No attempt so far can have been delivered: WeChat's dedupe window starts afresh with
    the next attempt (keeping the old start would turn later timeouts into needless unknowns)."""
    return {} if row["ambiguous"] else {"first_attempt_at": None}


def backoff(attempts: int, base: float, cap: float) -> float:
    """Exponential backoff with full jitter in [0.5, 1.5) × the step."""
    step = min(cap, base * (2 ** max(0, attempts - 1)))
    return step * (0.5 + random.random())


def _not_delivered(error: Exception, code) -> bool:
    if isinstance(error, (TokenUnavailable, requests.ConnectTimeout)):
        return True
    if isinstance(error, requests.ConnectionError) and not isinstance(error, requests.ReadTimeout):
        return "Read" not in type(error).__name__ and _refused(error)
    return code in NOT_DELIVERED_ERRORS


def _refused(error: Exception) -> bool:
    text = repr(error)
    return "Connection refused" in text or "NewConnectionError" in text


def _ambiguous(error: Exception, code) -> bool:
    if isinstance(error, (requests.Timeout, requests.ConnectionError)):
        return True
    return isinstance(error, WeChatClientException) and code is None  # HTTP 5xx


def _eligibility(conn, row: dict) -> tuple[str | None, str | None]:
    """(None, encrypted openid) when the row may be sent now; else (why not, None).
    Read after the claim, so a withdrawal committed before this read stops the send.
    One query: the release's state and the subscriber's (outer join: it may be deleted)."""
    found = conn.execute(
        sa.select(releases.c.state, subscribers.c.id, subscribers.c.active, subscribers.c.consent,
                  subscribers.c.blocked_reason, subscribers.c.openid_enc)
        .select_from(releases.outerjoin(subscribers, subscribers.c.id == row["subscriber_id"]))
        .where(releases.c.id == row["release_id"])).first()
    if found is None or found.state != "published":
        return f"release {found.state if found else 'missing'}", None
    if found.id is None:
        return "subscriber deleted", None
    if not found.active or not found.consent:
        return "subscriber unfollowed or withdrew consent", None
    if found.blocked_reason:
        return f"subscriber blocked: {found.blocked_reason}", None
    return None, found.openid_enc


def _paused_apis(conn, now: dt.datetime) -> list[str]:
    query = sa.select(push_control.c.api).where(push_control.c.paused_until > now)
    return list(conn.execute(query).scalars())


def paused_apis(db) -> dict[str, dt.datetime]:
    with db.read() as conn:
        return {api: until for api, until in conn.execute(
            sa.select(push_control.c.api, push_control.c.paused_until)
            .where(push_control.c.paused_until > utcnow()))}


def resume(db, api: str) -> bool:
    """A person resumes an API paused on 45009 (after checking or raising the quota)."""
    with db.write() as conn:
        return bool(conn.execute(push_control.update().where(push_control.c.api == api)
                                 .values(paused_until=None, reason="resumed", updated_at=utcnow())).rowcount)


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _count(report: SendReport, outcome: SendOutcome) -> None:
    field = {"sent": "sent", "failed": "failed", "unknown": "unknown", "cancelled": "cancelled",
             "pending": "retried"}[outcome.state]
    setattr(report, field, getattr(report, field) + 1)
