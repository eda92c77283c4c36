"""Keywords of a question: jieba words of two or more characters, less the words every
question has (怎么, 如何, 申请, 参加 ...). A private `jieba.Tokenizer` (never the global one,
which the index configures for itself), created once per process on first use.

It does not load the index's policy terms (失业保险 kept whole): whole terms read better in a
report, but questions about one article then share fewer words, and grouping by keywords alone
fell from F1 0.25 to 0.14 (`python bench/bench_insights.py --questions 2000`)."""
from __future__ import annotations

import functools
import re
import threading

import jieba

STOPWORDS = frozenset("""
怎么 怎样 如何 什么 哪些 哪个 哪里 多少 多久 几个 是否 能否 可否 可以 能够 能不能 可不可以 需要 应当 应该
必须 请问 你好 您好 我们 你们 他们 自己 我的 我们的 现在 目前 已经 还是 或者 以及 还有 一下 一些 这个
那个 这些 那些 这样 那样 有关 相关 关于 规定 情况 问题 时候 之后 以后 之前 以前 如果 因为 所以 但是 然后
有没有 是不是 要不要 会不会 吗 呢 吧 的 了 是 在 有 和 与 及 或 对 把 被 给 向 从 到 为 为什么 什么样
怎么样 几类 几种 哪几类 哪几种
办理 申请 提供 进行 要求 符合 条件 手续 流程 需不需要 一般 具体 主要 怎么办 可以吗 谁 该 得 地
参加 享受 知道 告诉 能领 一年
""".split())
_TOKENIZER = None
_LOCK = threading.Lock()
# A masked value and the word that announced it (我的手机【手机号】): personal data, not a topic.
_ANNOUNCING = "手机号码|手机号|手机|电话号码|电话|身份证号码|身份证号|身份证|邮箱|银行卡号|卡号"
_PLACEHOLDER = re.compile(r"(?:" + _ANNOUNCING + r")?[:：是为]?\s*【[^】]{1,6}】")


def tokenizer() -> jieba.Tokenizer:
    global _TOKENIZER
    with _LOCK:
        if _TOKENIZER is None:
            _TOKENIZER = jieba.Tokenizer()
            _TOKENIZER.initialize()
    return _TOKENIZER


def keywords(question: str, limit: int = 8) -> list[str]:
    """Content words in order of first appearance, without repeats."""
    return list(_keywords(question, limit))


@functools.lru_cache(maxsize=50_000)  # reports look at the same questions week after week
def _keywords(question: str, limit: int) -> tuple[str, ...]:
    text = _PLACEHOLDER.sub(" ", question)  # masked personal data is not a topic
    seen: list[str] = []
    for word in tokenizer().lcut(text):
        word = word.strip()
        if len(word) >= 2 and word not in STOPWORDS and not word.isdigit() and word not in seen:
            if re.search(r"[\w]", word):
                seen.append(word)
    return tuple(seen[:limit])
