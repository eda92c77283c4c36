"""The question log: every question the bot answered or failed to answer, with the user's
feedback (满意 / 不满意), as evidence of where interpretations are missing or unclear.

Personal data stays out (SECURITY.md item 14): the openid is stored only as a keyed hash
(HMAC-SHA256 with the app's SECRET_KEY, so the log cannot be joined to WeChat's users
without the key), and the question is stored normalised (NFKC but for Chinese punctuation,
whitespace collapsed, cut to MAX_QUESTION_CHARS) with ID numbers, phone numbers, bank cards
and e-mail addresses found by the 保密审查 scanner replaced by a placeholder such as 【手机号】.
Rows older than the retention period are deleted by `purge` (CLI: `flask --app server insights purge`).

An answer's row may carry `answer_ref`, the unguessable reference its reply's link carries
(bot.links): the H5 page rates the answer by it (`rate_answer`), the chat by the openid.

Times are stored in UTC.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import re
import unicodedata
from collections.abc import Callable, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from bot.simulated import is_simulated
from interpretations.confidentiality import scan_text
from policies.db import Database, metadata

RATINGS = ("satisfied", "unsatisfied")
CHANNELS_MAX = 20
MAX_QUESTION_CHARS = 500
MAX_CITED = 10
MAX_REF_CHARS = 32
DEFAULT_RETENTION_DAYS = 365
# What a user may reply after an answer; anything else is a new question.
RATING_WORDS = {"满意": "satisfied", "1": "satisfied", "不满意": "unsatisfied", "2": "unsatisfied"}
# The scanner's categories that are personal data; classification markings are not masked.
PLACEHOLDERS = {"id_number": "【身份证号】", "mobile": "【手机号】", "landline": "【电话】",
                "bank_card": "【银行卡号】", "email": "【邮箱】", "internal_ip": "【地址】",
                "key": "【密钥】"}

question_log = sa.Table(
    "question_log", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("user_hash", sa.String(64), nullable=False, index=True),
    sa.Column("channel", sa.String(CHANNELS_MAX), nullable=False),
    sa.Column("question", sa.Text, nullable=False),
    sa.Column("cited", sa.JSON, nullable=False),
    sa.Column("top_doc_id", sa.String(200), index=True),
    sa.Column("confidence", sa.Float, nullable=False),
    sa.Column("answered", sa.Boolean, nullable=False),
    sa.Column("rating", sa.String(20)),
    sa.Column("rated_at", sa.DateTime(timezone=True)),
    sa.Column("answer_ref", sa.String(MAX_REF_CHARS), index=True, unique=True),
    # Asked in the staff simulator (bot.simulated): not the public's, left out of statistics.
    sa.Column("simulated", sa.Boolean, nullable=False, server_default=sa.false()),
    # How the bot read a follow-up: with the question that opened its topic (masked like the
    # question); empty when the question was read as written.
    sa.Column("reading", sa.Text),
)


@dataclasses.dataclass(frozen=True)
class LoggedQuestion:
    id: int
    at: dt.datetime
    channel: str
    question: str
    cited: list
    confidence: float
    answered: bool
    rating: str | None


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def as_utc(moment: dt.datetime) -> dt.datetime:
    """Aware UTC; a naive time (SQLite gives those back) is taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)


def parse_rating(text: str) -> str | None:
    """'满意' / '1' → 'satisfied', '不满意' / '2' → 'unsatisfied', anything else → None."""
    word = unicodedata.normalize("NFKC", text or "").strip().rstrip("。.!！")
    return RATING_WORDS.get(word)


def mask_personal_data(text: str) -> str:
    """Replace personal data found by the scanner with a placeholder naming its kind."""
    pieces, cursor = [], 0
    for finding in scan_text(text):
        if finding.category in PLACEHOLDERS and finding.start >= cursor:
            pieces += [text[cursor:finding.start], PLACEHOLDERS[finding.category]]
            cursor = finding.end
    return "".join(pieces) + text[cursor:]


# Chinese punctuation stays as typed: the reports quote questions, and 「怎么申领?」 is not how
# anyone wrote it. Everything else is folded (full-width digits and letters to ASCII).
KEPT_PUNCTUATION = frozenset("，。？！：；、（）“”‘’《》【】「」…—")


def normalise_question(text: str) -> str:
    """NFKC but for Chinese punctuation, whitespace collapsed, personal data masked, cut to
    MAX_QUESTION_CHARS."""
    if not isinstance(text, str):
        raise TypeError("question must be a string")
    folded = "".join(c if c in KEPT_PUNCTUATION else unicodedata.normalize("NFKC", c) for c in text)
    flat = re.sub(r"\s+", " ", folded).strip()
    return mask_personal_data(flat)[:MAX_QUESTION_CHARS]


@dataclasses.dataclass(frozen=True)
class Entry:
    """One question to log (QuestionLog.record's arguments)."""
    openid: str
    channel: str
    question: str
    cited: list[dict]
    confidence: float
    answered: bool
    at: dt.datetime | None = None
    answer_ref: str | None = None
    reading: str | None = None


class QuestionLog:
    """Record questions and feedback; look up a user's last answer; purge old rows."""

    def __init__(self, db: Database, secret_key: str | bytes | Callable[[], str | bytes],
                 retention_days: int = DEFAULT_RETENTION_DAYS):
        # A callable is read at the first hash: the app's SECRET_KEY is set when the app starts
        # (it may have to be created in the data directory), after this log is built.
        if not callable(secret_key) and not secret_key:
            raise ValueError("QuestionLog needs the app's SECRET_KEY to hash openids")
        if int(retention_days) < 1:
            raise ValueError("retention_days must be at least 1")
        self.db = db
        self._secret = secret_key
        self._key_bytes: bytes | None = None
        self.retention_days = int(retention_days)

    def _key(self) -> bytes:
        if self._key_bytes is None:
            secret = self._secret() if callable(self._secret) else self._secret
            if not secret:
                raise ValueError("QuestionLog needs the app's SECRET_KEY to hash openids")
            self._key_bytes = secret.encode() if isinstance(secret, str) else bytes(secret)
        return self._key_bytes

    def user_hash(self, openid: str) -> str:
        """The keyed hash stored instead of the openid (same openid → same hash)."""
        if not openid:
            raise ValueError("openid is empty")
        return hmac.new(self._key(), b"questionlog:" + openid.encode(), hashlib.sha256).hexdigest()

    def record(self, openid: str, channel: str, question: str, cited: list[dict],
               confidence: float, answered: bool, at: dt.datetime | None = None,
               answer_ref: str | None = None, reading: str | None = None) -> int:
        """Log one question as the user wrote it; returns the log id (to attach feedback to).
        `answer_ref` is the reference the answer's link carries (unique), for `rate_answer`;
        `reading` how the bot read it when that differs (a follow-up with its topic, a story's
        asking clauses)."""
        return self.record_many([Entry(openid, channel, question, cited, confidence, answered, at,
                                       answer_ref, reading)])[0]

    def record_many(self, entries: Sequence[Entry]) -> list[int]:
        """Log several questions in one transaction (the bot's after-reply writer under a
        burst); their log ids in the same order. A malformed entry refuses the whole call."""
        rows = [self._entry_row(entry) for entry in entries]
        if not rows:
            return []
        with self.db.write() as conn:
            return list(conn.execute(sa.insert(question_log).returning(
                question_log.c.id, sort_by_parameter_order=True), rows).scalars())

    def _entry_row(self, entry: Entry) -> dict:
        row = self._row(entry.openid, entry.channel, entry.question, entry.cited, entry.confidence,
                        entry.answered, entry.at)
        row["answer_ref"] = _checked_ref(entry.answer_ref) if entry.answer_ref is not None else None
        row["reading"] = normalise_question(entry.reading) if entry.reading else None
        return row

    def feedback(self, target: int | str, rating: str, at: dt.datetime | None = None,
                 within_seconds: int = 48 * 3600) -> int | None:
        """Rate a logged answer: `target` is a log id, or an openid (its latest answer within
        `within_seconds`). The last rating wins. Returns the rated log id, or None when the
        openid has no recent question."""
        if rating not in RATINGS:
            raise ValueError(f"rating must be one of {RATINGS}, not {rating!r}")
        at = as_utc(at or utcnow())
        log_id = target if isinstance(target, int) else self._latest_id(target, within_seconds, at)
        if log_id is None:
            return None
        with self.db.write() as conn:
            done = conn.execute(sa.update(question_log).where(question_log.c.id == log_id)
                                .values(rating=rating, rated_at=at)).rowcount
        if not done:
            raise KeyError(f"no logged question {log_id}")
        return log_id

    def rate_answer(self, ref: str, rating: str, at: dt.datetime | None = None) -> int | None:
        """Rate the answer whose link carried `ref` (the H5 page's buttons, or the chat).
        The last rating given wins: a rating given `at` an earlier moment than the stored one
        (a rating that waited for the row to be written) leaves the stored one. Returns the
        log id, or None when no row has that ref (unknown or purged)."""
        if rating not in RATINGS:
            raise ValueError(f"rating must be one of {RATINGS}, not {rating!r}")
        ref, at = _checked_ref(ref), as_utc(at or utcnow())
        not_later = sa.or_(question_log.c.rated_at.is_(None), question_log.c.rated_at <= at)
        with self.db.write() as conn:
            log_id = conn.execute(sa.update(question_log)
                                  .where(question_log.c.answer_ref == ref, not_later)
                                  .values(rating=rating, rated_at=at)
                                  .returning(question_log.c.id)).scalar()
            if log_id is None:  # unknown, or rated later than `at`
                log_id = conn.execute(sa.select(question_log.c.id)
                                      .where(question_log.c.answer_ref == ref)).scalar()
        return log_id

    def latest_for(self, openid: str, within_seconds: int,
                   now: dt.datetime | None = None) -> LoggedQuestion | None:
        """The user's most recent logged question, if it is at most `within_seconds` old."""
        log_id = self._latest_id(openid, within_seconds, as_utc(now or utcnow()))
        return self.get(log_id) if log_id is not None else None

    def get(self, log_id: int) -> LoggedQuestion | None:
        with self.db.read() as conn:
            row = conn.execute(sa.select(question_log).where(question_log.c.id == log_id)).mappings().first()
        return _entry(row) if row else None

    def purge(self, older_than: dt.datetime | None = None) -> int:
        """Delete rows logged before `older_than` (default: now − retention period)."""
        cutoff = as_utc(older_than or utcnow() - dt.timedelta(days=self.retention_days))
        with self.db.write() as conn:
            return conn.execute(sa.delete(question_log).where(question_log.c.at < cutoff)).rowcount

    def _latest_id(self, openid: str, within_seconds: int, now: dt.datetime) -> int | None:
        since = now - dt.timedelta(seconds=within_seconds)
        query = (sa.select(question_log.c.id)
                 .where(question_log.c.user_hash == self.user_hash(openid),
                        question_log.c.at >= since, question_log.c.at <= now)
                 .order_by(question_log.c.at.desc(), question_log.c.id.desc()).limit(1))
        with self.db.read() as conn:
            return conn.execute(query).scalar()

    def _row(self, openid, channel, question, cited, confidence, answered, at) -> dict:
        if not channel or len(channel) > CHANNELS_MAX:
            raise ValueError(f"channel must be 1..{CHANNELS_MAX} characters")
        clean = normalise_question(question)
        if not clean:
            raise ValueError("question is empty")
        citations = [_citation(c) for c in (cited or [])][:MAX_CITED]
        return dict(at=as_utc(at or utcnow()), user_hash=self.user_hash(openid), channel=channel,
                    question=clean, cited=citations,
                    top_doc_id=citations[0]["doc_id"] if citations else None,
                    confidence=float(confidence), answered=bool(answered), simulated=is_simulated(openid))


def _checked_ref(ref: str) -> str:
    if not isinstance(ref, str) or not 0 < len(ref) <= MAX_REF_CHARS:
        raise ValueError(f"an answer reference is 1..{MAX_REF_CHARS} characters")
    return ref


def _citation(cited: dict) -> dict:
    if not isinstance(cited, dict) or not cited.get("doc_id"):
        raise ValueError(f"a citation needs a doc_id: {cited!r}")
    return {"doc_id": str(cited["doc_id"]), "chunk_id": cited.get("chunk_id"),
            "score": float(cited.get("score") or 0.0), "source": cited.get("source")}


def _entry(row) -> LoggedQuestion:
    return LoggedQuestion(id=row["id"], at=as_utc(row["at"]), channel=row["channel"],
                          question=row["question"], cited=list(row["cited"]),
                          confidence=row["confidence"], answered=bool(row["answered"]),
                          rating=row["rating"])


def logged_questions(conn: Connection, start: dt.datetime, end: dt.datetime,
                     include_simulated: bool = False) -> list[LoggedQuestion]:
    """Every logged question with start <= at < end, oldest first (for the analytics); the
    staff simulator's only when asked."""
    query = (sa.select(question_log)
             .where(question_log.c.at >= as_utc(start), question_log.c.at < as_utc(end))
             .order_by(question_log.c.at, question_log.c.id))
    if not include_simulated:
        query = query.where(question_log.c.simulated.is_(False))
    return [_entry(row) for row in conn.execute(query).mappings()]
