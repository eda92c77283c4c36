"""How well a passage covers a question: the share of the question's content bigrams found
in the passage (with its title and headings).

Retrieval ranks by reciprocal-rank fusion, whose scores say "better than the others", not
"relevant": the top hit of an off-topic question scores like the top hit of a good one. The
bot needs an absolute signal to say honestly "not found", so it measures coverage of the
question's own words. The threshold on it is calibrated on shared/eval
(`flask --app server calibrate-threshold`; figures in the README).
"""
from __future__ import annotations

import re
import unicodedata

from index.hits import Hit

# Question words that carry no subject: removed before counting.
FILLERS = re.compile(
    "请问|请教|你好|您好|怎么样|怎么办|怎么|怎样|如何|什么|哪些|哪里|哪个|多少|多久|是否|能否|可以|可不可以|"
    "能不能|需要|应该|应当|有没有|是不是|吗|呢|吧|啊|呀|了|的|我|我们|他|她|想|要|问|一下|这个|那个|关于|"
    "现在|还|都|就|又|和|与|及|或|在|是|有|会|能|得|被|把|给|对|从|到")
CJK_OR_WORD = re.compile(r"[\u4e00-\u9fff]+|[A-Za-z0-9]+")


def content_units(text: str) -> set[str]:
    """Character bigrams of the CJK runs (single characters when a run has one) and whole
    Latin/digit words, after dropping question fillers."""
    text = FILLERS.sub(" ", unicodedata.normalize("NFKC", text))
    units: set[str] = set()
    for run in CJK_OR_WORD.findall(text):
        if not run.isascii() and len(run) > 1:
            units.update(run[i:i + 2] for i in range(len(run) - 1))
        else:
            units.add(run.lower())
    return units


def coverage(question_units: set[str], hit: Hit) -> float:
    if not question_units:
        return 0.0
    haystack = unicodedata.normalize("NFKC", " ".join([hit.title, *hit.heading_path, hit.text])).lower()
    return sum(1 for unit in question_units if unit in haystack) / len(question_units)
