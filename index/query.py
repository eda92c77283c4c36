"""What part of a long message carries the question. A resident's letter of 300 characters
costs ~70 ms (p99 160 ms) to embed here and mostly tells a story; the sentences that ask
(？, 吗, 怎么, 如何, 能否 …) say what to look for. BM25 still reads the whole message."""
from __future__ import annotations

import re

FOCUS_CHARS = 160
_SENTENCE_RE = re.compile(r"[^。！？!?；;\n]+[。！？!?；;]?")
_ASKING_RE = re.compile(r"[？?]|吗|呢|怎么|怎样|如何|能否|能不能|是否|可不可以|哪些|哪里|多少|多久|什么")


def focus(question: str, limit: int = FOCUS_CHARS) -> str:
    """The question itself when short; else its asking sentences (last ones first), else
    its end."""
    question = question.strip()
    if len(question) <= limit:
        return question
    sentences = [s.strip() for s in _SENTENCE_RE.findall(question) if s.strip()]
    asking = [s for s in sentences if _ASKING_RE.search(s)]
    chosen: list[str] = []
    for sentence in reversed(asking):
        if sum(map(len, chosen)) + len(sentence) > limit:
            break
        chosen.insert(0, sentence)
    return "".join(chosen) if chosen else question[-limit:]
