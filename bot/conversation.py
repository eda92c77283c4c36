"""A user's conversation state: the previous question (for short follow-ups such as
「那需要什么材料？」) and the numbered related documents of the last answer.

Number rule (documented in the README): an answer ends with one numbered menu, as a phone
menu does. 1 rates the last answer 满意 and 2 不满意 (so do the words, bot.questionlog
parse_rating); the related documents are numbered from 3 (bot.answer.RELATED_FIRST_NUMBER),
and a bare number from 3 returns that document's key passage. A number is never ambiguous.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import time

from bot.answer import Related
from bot.kvstore import KeyValueStore

FOLLOW_UP_SECONDS = 5 * 60
KEEP_SECONDS = 30 * 60
FOLLOW_UP_MAX_CHARS = 14
# Words that make a short message lean on what came before.
FOLLOW_UP_CUES = re.compile(
    r"^(那|那么|还|另外|然后|如果|要是)|(呢|吗)[？?]?$|需要什么|什么材料|哪些材料|在哪|哪里办|怎么办|"
    r"怎么申请|多久|多少钱|什么时候|条件是|流程")


@dataclasses.dataclass
class Turn:
    question: str
    at: float
    related: list[Related]
    best_chunk: str | None = None  # what the last answer quoted: a follow-up wants something else
    answer_ref: str | None = None  # the last answer's reference: what 1 / 2 rate


def is_follow_up(text: str, previous: Turn | None, now: float) -> bool:
    if previous is None or now - previous.at > FOLLOW_UP_SECONDS:
        return False
    return len(text) <= FOLLOW_UP_MAX_CHARS and bool(FOLLOW_UP_CUES.search(text))


def with_context(text: str, previous: Turn) -> str:
    """The follow-up read as part of the previous question."""
    return f"{previous.question} {text}"


def menu_number(text: str) -> int | None:
    """A bare number 1–9 (half- or full-width) replied to the answer's menu, else None."""
    text = text.strip().translate(str.maketrans("０１２３４５６７８９", "0123456789"))
    return int(text) if re.fullmatch(r"[1-9]", text) else None


class Conversations:
    def __init__(self, store: KeyValueStore, clock=time.time):
        self.store = store
        self.clock = clock

    def last(self, openid: str) -> Turn | None:
        raw = self.store.get(_key(openid))
        if not raw:
            return None
        data = json.loads(raw)
        return Turn(data["question"], data["at"], [Related(**r) for r in data["related"]],
                    data.get("best_chunk"), data.get("answer_ref"))

    def remember(self, openid: str, question: str, related, best_chunk: str | None = None,
                 answer_ref: str | None = None) -> None:
        data = {"question": question, "at": self.clock(), "best_chunk": best_chunk,
                "answer_ref": answer_ref,
                "related": [dataclasses.asdict(r) for r in related]}
        self.store.set(_key(openid), json.dumps(data, ensure_ascii=False), KEEP_SECONDS)


def _key(openid: str) -> str:
    return "conv:" + hashlib.sha256(openid.encode("utf-8")).hexdigest()
