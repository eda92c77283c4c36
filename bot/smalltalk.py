"""Small talk: 你好, 谢谢, 好的明白了, 你是机器人吗. A message made only of such phrases gets a
short polite reply instead of a search: it is not a policy question, so it is neither
answered from a document nor logged as an unanswered question.

A message counts as small talk when all of it (punctuation, emoji and particles aside) is
covered by the phrases below, read in Mandarin (index.dialect: 多谢晒 is 多谢). One word of
substance (补贴, 社保) makes it a question. A short message about the weather, a joke, food
or films is chit-chat too, unless it carries a word of a policy question (下雨天上班摔倒算
工伤吗 is a question).
"""
from __future__ import annotations

import re
import unicodedata

from index.dialect import Dialect

# Each kind with its phrases, in the order a mixed message is answered by (谢谢+好的 → thanks).
PHRASES = {
    "identity": ("你是谁", "你是机器人吗", "你是机器人", "你是真人吗", "你是真人", "是机器人吗",
                 "真人还是机器人", "是真人还是机器人", "还是机器人", "还是真人", "机器人", "人工智能吗",
                 "你是ai吗", "你多大", "你几岁"),  # asked of the bot, not of a policy
    "thanks": ("谢谢你", "谢谢您", "谢谢", "多谢", "感谢", "谢了", "谢啦", "辛苦了", "辛苦", "麻烦你了",
               "thanks", "thankyou", "thx"),  # 唔该 / 多謝 arrive as 谢谢 / 多谢 (dialect.tsv)
    "praise": ("你好聪明", "好聪明", "聪明", "真棒", "好棒", "厉害", "点赞", "赞", "不错", "挺好",
               "太好了", "很有用", "有用", "有帮助"),
    "goodbye": ("再见", "拜拜", "下次见", "bye", "88"),
    "greeting": ("你好", "您好", "早上好", "上午好", "中午好", "下午好", "晚上好", "早安", "晚安",
                 "在吗", "在不在", "有人吗", "哈喽", "hello", "hi", "嗨", "早晨", "大家好"),
    "ack": ("好的", "好", "嗯嗯", "嗯", "明白了", "明白", "知道了", "知道", "收到", "了解了", "了解",
            "懂了", "ok", "okay", "行", "可以了", "没事了", "没问题了", "没问题", "没有问题", "没有了",
            "没了", "那好", "得"),  # 得 (Cantonese: fine) only with nothing of substance around it
}
FILLERS = ("哈哈", "呵呵", "嘿嘿", "嘻嘻", "哈", "呵", "啊", "呀", "啦", "嘛", "哦", "噢", "哟", "呢",
           "吧", "咯", "喇", "嘞", "喔", "晒", "了", "的", "很", "真", "你", "您", "我", "都", "非常", "太",
           "老师")
CHITCHAT_RE = re.compile(r"天气|下雨|下雪|气温|好热|好冷|几度|笑话|唱歌|唱首歌|电影|电视剧|好吃|美食|"
                         r"吃什么|喝什么|玩什么|好玩|游戏|星座|几点了|几点钟")
POLICY_MARK_RE = re.compile(r"补贴|补助|保险|社保|医保|公积金|工资|工伤|假|上班|工作|单位|公司|企业|"
                            r"办理|申请|"
                            r"政策|证|费|税|学|房|病|伤|残|老人|户|贷|政府|规定|法")
CHITCHAT_MAX_CHARS = 20
REPLIES = {
    "chitchat": "我是政策解读助手，只能解答政策方面的问题。您可以直接问，例如：失业保险金怎么申领？",
    "identity": "我是政策解读助手（自动答复），答复内容都摘自已公开的政策文件和政策解读。"
                "需要工作人员帮助请回复「转人工」。",
    "thanks": "不客气！还有其他政策问题，随时直接问我。",
    "praise": "谢谢您的鼓励！还有其他政策问题，随时直接问我。",
    "goodbye": "再见！有政策问题随时来问。",
    "greeting": "您好！我是政策解读助手。请直接输入您想了解的问题，例如：失业保险金怎么申领？"
                "回复「帮助」查看用法。",
    "ack": "好的。还有其他问题随时问我；需要人工帮助请回复「转人工」。",
}
_NOISE_RE = re.compile(r"[\s\W_]+", re.UNICODE)
_UNITS = sorted({p: k for k, phrases in PHRASES.items() for p in phrases} | dict.fromkeys(FILLERS, ""),
                key=len, reverse=True)
_KIND_OF = {p: k for k, phrases in PHRASES.items() for p in phrases}
_DIALECT = Dialect.default()
MAX_CHARS = 30


def small_talk(text: str) -> str | None:
    """The kind of small talk `text` is ("thanks", "greeting" …), or None for anything else."""
    plain = _NOISE_RE.sub("", _DIALECT.to_mandarin(unicodedata.normalize("NFKC", text)).lower())
    if not plain:
        return "ack" if text.strip() else None  # 👍, 🙏, …: a nod
    if len(plain) > MAX_CHARS:
        return None
    kinds = _cover(plain)
    if kinds:
        return min(kinds, key=list(PHRASES).index)
    if len(plain) <= CHITCHAT_MAX_CHARS and CHITCHAT_RE.search(plain) and not POLICY_MARK_RE.search(plain):
        return "chitchat"
    return None


def reply_to(kind: str) -> str:
    return REPLIES[kind]


def _cover(plain: str) -> set[str] | None:
    """The kinds of the phrases that make up all of `plain` (longest first), else None."""
    kinds: set[str] = set()
    position = 0
    while position < len(plain):
        unit = next((u for u in _UNITS if plain.startswith(u, position)), None)
        if unit is None:
            return None
        if unit in _KIND_OF:
            kinds.add(_KIND_OF[unit])
        position += len(unit)
    return kinds or None
