"""A person's age in a question, read as the category the law gives it.

Residents say who they are by age (「我今年七十了」, 「我爸67岁」, 「八十多岁的老人」); documents
say 老年人 (60周岁以上, 老年人权益保障法 第二条). An age of 60 or more adds 老年人 to the
question's BM25 terms, so the story's number reaches the documents written for that person.
"""
from __future__ import annotations

import re

ELDER_AGE = 60
ELDER_TERMS = ("老年人",)
_DIGITS = {"零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8,
           "九": 9}
_NUMBER = r"(\d{1,3}|[一二两三四五六七八九十]{1,4})"
# 67岁 / 七十周岁 / 八十多岁 / 今年七十了 / 年满70
_AGE_RE = re.compile(_NUMBER + r"(?:多|几)?(?:周岁|岁)|今年" + _NUMBER + r"(?:多)?了|年满" + _NUMBER)


def ages(question: str) -> list[int]:
    """Every age the question states, in years."""
    found = []
    for match in _AGE_RE.finditer(question):
        value = _number(next(g for g in match.groups() if g))
        if value is not None and 0 < value < 130:
            found.append(value)
    return found


def age_terms(question: str) -> list[str]:
    """The official terms for the people the question's ages describe."""
    return list(ELDER_TERMS) if any(a >= ELDER_AGE for a in ages(question)) else []


def _number(text: str) -> int | None:
    """Arabic digits, or Chinese numerals below 1000 written the everyday way (七十, 六十五, 十八)."""
    if text.isdigit():
        return int(text)
    if "十" not in text:
        return _DIGITS.get(text) if len(text) == 1 else None
    tens, _, units = text.partition("十")
    if len(tens) > 1 or len(units) > 1:
        return None
    return (_DIGITS.get(tens, 0) if tens else 1) * 10 + (_DIGITS.get(units, 0) if units else 0)
