"""The WeChat callback, without Flask: query arguments and body in, (status, body) out.

Order of checks (SECURITY.md, callback list): timestamp window → URL signature (constant
time) → in safe mode the envelope, its msg_signature and decryption with the current or
previous key (a request without encryption is refused: no plaintext downgrade) → replay
cache on the signature → the message fields → once-only processing → reply rendered and
sanitised (and encrypted in safe mode). Any failure is 400 or 403, never 500; a failure
after authentication still gives WeChat a well-formed answer.
"""
from __future__ import annotations

import dataclasses
import logging
import re
import time

from bot.config import WeChatConfig
from bot.crypto import CallbackCrypto, Forbidden
from bot.dedupe import Deliveries, delivery_key
from bot.replay import ReplayCache, check_timestamp
from bot.service import SUCCESS, BotService, Outcome
from bot.xmlsafe import BadXml, parse_flat_xml, render_text_reply, render_transfer_reply

log = logging.getLogger("policybot.bot")
MAX_BODY_BYTES = 64 * 1024
NONCE_RE = re.compile(r"[A-Za-z0-9]{1,64}")
OPENID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
ECHOSTR_RE = re.compile(r"[A-Za-z0-9_\-]{1,128}")
REQUIRED_FIELDS = ("ToUserName", "FromUserName", "CreateTime", "MsgType")


@dataclasses.dataclass(frozen=True)
class CallbackResponse:
    status: int
    body: str
    content_type: str = "text/plain; charset=utf-8"


def refused(status: int, reason: str) -> CallbackResponse:
    log.warning("callback refused (%d): %s", status, reason)
    return CallbackResponse(status, {400: "bad request", 403: "forbidden"}[status])


class Callback:
    def __init__(self, config: WeChatConfig, replay: ReplayCache, deliveries: Deliveries,
                 bot: BotService, budget_seconds: float = 4.0, clock=time.time,
                 monotonic=time.monotonic):
        self.config, self.replay, self.deliveries, self.bot = config, replay, deliveries, bot
        self.crypto = CallbackCrypto(config)
        self.budget_seconds = budget_seconds
        self.clock, self.monotonic = clock, monotonic
        self.duplicates = 0  # deliveries answered from another delivery's claim (/metrics)

    # -- GET: URL verification ---------------------------------------------------------------
    def verify(self, args) -> CallbackResponse:
        try:
            timestamp, nonce = self._authenticate(args)
        except Forbidden as error:
            return refused(403, str(error))
        echostr = args.get("echostr") or ""
        if not ECHOSTR_RE.fullmatch(echostr):
            return refused(400, "missing or malformed echostr")
        return CallbackResponse(200, echostr)

    # -- POST: a message ------------------------------------------------------------------------
    def receive(self, args, body: bytes, queued: float = 0.0) -> CallbackResponse:
        """`queued`: seconds the request already waited before this process began it (the
        front proxy's stamp, bot.web.queueing); they count against the reply's budget."""
        deadline = self.monotonic() - queued + self.budget_seconds
        try:
            timestamp, nonce = self._authenticate(args)
            fields, replay_key = self._open(args, body, timestamp, nonce)
            self.replay.admit(replay_key, body)  # a repeat is WeChat's retry: dedupe answers it
            _check_fields(fields)
        except Forbidden as error:
            return refused(403, str(error))
        except BadXml as error:
            return refused(400, str(error))
        except Exception as error:  # whatever a library raises on hostile input: never 500
            return refused(400, f"unreadable request ({type(error).__name__})")
        try:
            reply_xml = self._reply_once(fields, deadline)
        except Exception:  # the shared store is down: WeChat gets `success`, not an error page
            log.exception("dedupe store failed")
            reply_xml = "success"
        return self._respond(reply_xml, timestamp, nonce)

    def _authenticate(self, args) -> tuple[str, str]:
        timestamp, nonce = args.get("timestamp") or "", args.get("nonce") or ""
        check_timestamp(timestamp, self.clock())
        if not NONCE_RE.fullmatch(nonce):
            raise Forbidden("missing or malformed nonce")
        self.crypto.check_url_signature(args.get("signature"), timestamp, nonce)
        return timestamp, nonce

    def _open(self, args, body: bytes, timestamp: str, nonce: str) -> tuple[dict, str]:
        """The message fields and the signature the replay cache is keyed on."""
        if not self.config.safe_mode:
            return parse_flat_xml(body), args.get("signature")
        if args.get("encrypt_type") != "aes" or not args.get("msg_signature"):
            raise Forbidden("safe mode: unencrypted request refused")
        envelope = parse_flat_xml(body)
        if not envelope.get("Encrypt"):
            raise Forbidden("safe mode: body without <Encrypt> refused")
        plain = self.crypto.open_encrypted(envelope["Encrypt"], args.get("msg_signature"),
                                           timestamp, nonce)
        return parse_flat_xml(plain), args.get("msg_signature")

    def _reply_once(self, fields: dict[str, str], deadline: float) -> str:
        """The reply XML ("success" for none): computed by the first delivery, repeated after."""
        key = delivery_key(fields)
        if self.deliveries.claim(key):
            return self._compute_once(key, fields, deadline)
        self.duplicates += 1
        while True:
            reply = self.deliveries.wait_reply(key, max(deadline - self.monotonic(), 0))
            if reply is not None:
                return reply
            if self.monotonic() >= deadline:
                return "success"
            if self.deliveries.claim(key):  # the claim lapsed unfinished: its worker died
                return self._compute_once(key, fields, deadline)

    def _compute_once(self, key: str, fields: dict[str, str], deadline: float) -> str:
        with self.bot.replying():  # its bookkeeping written once the reply is the message's
            try:
                outcome = self.bot.handle(fields, deadline)
            except Exception:
                log.exception("message handling failed")
                self.deliveries.release(key)  # let WeChat's retry try again
                return "success"
            reply_xml = self._render(fields, outcome)
            self.deliveries.finish(key, reply_xml)
            return reply_xml

    def _render(self, fields: dict[str, str], outcome: Outcome) -> str:
        if outcome.kind == SUCCESS.kind:
            return "success"
        user, account, now = fields["FromUserName"], fields["ToUserName"], int(self.clock())
        if outcome.kind == "transfer":
            return render_transfer_reply(user, account, now)
        return render_text_reply(user, account, outcome.text, now)

    def _respond(self, reply_xml: str, timestamp: str, nonce: str) -> CallbackResponse:
        if reply_xml == "success":
            return CallbackResponse(200, "success")
        if self.config.safe_mode:
            reply_xml = self.crypto.seal(reply_xml, str(int(self.clock())), nonce)
        return CallbackResponse(200, reply_xml, "application/xml; charset=utf-8")


def _check_fields(fields: dict[str, str]) -> None:
    missing = [name for name in REQUIRED_FIELDS if not fields.get(name)]
    if missing:
        raise BadXml("missing " + ", ".join(missing))
    if not OPENID_RE.fullmatch(fields["FromUserName"]) or not OPENID_RE.fullmatch(fields["ToUserName"]):
        raise BadXml("malformed user name")
    if not fields["CreateTime"].isdigit() or (fields.get("MsgId") and not fields["MsgId"].isdigit()):
        raise BadXml("malformed CreateTime or MsgId")
