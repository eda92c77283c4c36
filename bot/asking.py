"""What a question asks for (a place or office, a time or period, an amount, the materials, a
way online, an age, a fee) and whether a passage says that kind of thing.

A release found for a question has many passages that use its words; the one that answers
says the kind of thing asked: 「要去哪里申请？」 is answered by the passage naming the 街道
window, not by the one on who may apply, although both say 申请; 「多久能批下来？」 by the one
with 15个工作日. The answer quotes a passage (bot.answer.choose_passage) and prefers, among the
chosen release's, one that says what is asked; a follow-up is answered from its topic's
release at a lower bar when one of its passages says it (bot.answerability TOPIC_ASKED_SHARE),
and its asking words are not a subject of its own (bot.conversation says_asked). A message is
read in Mandarin first, through the search's own dialect table (index.dialect: 几多 → 多少,
边度 → 哪里). Pure: text in, kinds out.
"""
from __future__ import annotations

import functools
import re

from index.dialect import Dialect
from index.query import ASKING_RE

# kind: (how a question asks for it, how a passage says it). An online channel answers a
# "where" too (在哪里申请 → 广东政务服务网, 穗好办APP).
_KINDS: dict[str, tuple[str, str]] = {
    "place": (r"哪里|哪儿|哪个部门|哪个单位|哪个窗口|去哪|在哪|到哪|找谁|向谁|什么地方|什么部门",
              r"街道|镇（街）|街（镇）|乡镇|政务服务中心|服务中心|窗口|办事处|服务大厅|受理点|办理点|派出所|"
              r"居委会|村委会|居（村）委会|经办机构|登记机关|渠道|网址|政务服务网|网上|线上|小程序|[Aa][Pp][Pp]"),
    "time": (r"多久|多长时间|几天|几个月|几年|什么时候|何时|期限|时效|最长|最迟|来得及|多少天|"
             r"几耐",  # Cantonese 多久, which the dialect table does not have
             r"(?<![\d月])\d{1,3}\s*个?(工作日|天|个月|周|年内|年)|[一二三四五六七八九十百两]+个?(工作日|日内|天|个月|年内|年)|"
             r"之日起|以内|期限|时效|期满|届满|当日|当场|即时"),
    "amount": (r"多少|几成|几折|比例|标准|金额|几倍|(?:补贴|发|交|报|领)多(?![久长])",  # 领多久 asks a period
               r"\d[\d,.]*\s*(元|万元|%|％)|百分之|[一二三四五六七八九十百千万两]+元|[一二三四五六七八九十两]倍|\d+倍|比例|标准为"),
    # 「要什么条件」 asks who qualifies, not what to bring
    "materials": (r"材料|资料|证件|带什么|准备什么|要带|提供什么|需要什么(?!条件)|要什么(?!条件)|凭什么",
                  # 凭 as in 凭身份证办理, not the noun 凭证 (老年人优待凭证仅限本人使用)
                  r"材料|证明|身份证|户口簿|户口本|复印件|原件|申请表|证件|照片|营业执照|凭(?!证)"),
    "online": (r"网上|手机|线上|微信|小程序|[Aa][Pp][Pp]|网办|不用跑|不用去|电子",
               r"网上|线上|手机|微信|小程序|[Aa][Pp][Pp]|网办|平台|粤省事|穗好办|粤税通|粤商通|公众号|人脸识别|远程|网站"),
    "age": (r"年龄|几岁|多大|岁数", r"周岁|\d+岁|年龄|年满"),
    "fee": (r"收费|收钱|要钱|免费|费用|花钱|交钱", r"收费|费用|免费|不收取|免收|缴纳|负担"),
}
_ASKS = {kind: re.compile(asks) for kind, (asks, _) in _KINDS.items()}
_SAYS = {kind: re.compile(says) for kind, (_, says) in _KINDS.items()}


def asked_kinds(message: str) -> frozenset[str]:
    """The kinds of thing `message` asks for (none: it asks whether, why, or nothing cued)."""
    mandarin = _dialect().to_mandarin(message)
    return frozenset(kind for kind, pattern in _ASKS.items() if pattern.search(mandarin))


@functools.cache
def _dialect() -> Dialect:
    return Dialect.default()


# Words that make a short message a question or a sentence, not a bare topic: question
# particles and words, and persons (「我要投诉」 is a request, not a subject).
_NOT_A_TOPIC = re.compile(r"[吗呢么嘛吧啊呀哦噢咋怎哪几谁]|什么|多少|如何|能否|可否|是否|可以|能不能|有没有|"
                          r"要不要|会不会|为什么|为啥|[我你您他她它咱]")
TOPIC_CHARS = (2, 6)


def bare_topic(message: str) -> str | None:
    """The message itself when it is a topic and nothing more: two to six Chinese characters,
    punctuation aside, asking nothing (「养老金」「公交卡」「低保」, as many older residents type).
    No passage answers a subject without a question about it, so the bot asks which part of it
    and offers the documents on it (bot.answer) rather than saying nothing was found."""
    word = re.sub(r"[\W_]+", "", message)
    low, high = TOPIC_CHARS
    if not low <= len(word) <= high or not all("\u4e00" <= ch <= "\u9fff" for ch in word):
        return None
    mandarin = _dialect().to_mandarin(word)
    if asked_kinds(mandarin) or _NOT_A_TOPIC.search(mandarin):
        return None
    return word


# What a resident asks with besides index.query.ASKING_RE: a question word (谁, 哪天, 几点, 还是), a
# verb asked both ways (赔不赔, 补不补, 有没), or a word a question is put with even without a
# mark or particle (「我辞职了 能领失业金」).
_ASKS_WITHOUT_PARTICLE = re.compile(r"谁|哪|几|还是|咩|乜|点样|点解|([\u4e00-\u9fff])[不没]\1|"
                                    r"能|可以|会不会|要不要|应该|该不该|需要|请问|想问|咨询|求助|帮忙|帮我")


def tells_only(message: str) -> bool:
    """The message tells what happened and asks nothing yet (「公司拖欠我三个月工资了」, 「我在广州开了
    个小店」): no question word or mark (index.query.ASKING_RE), no word a question is asked with,
    no kind of thing asked. Not answered, it is asked what the resident wants to know, not told
    that nothing answers a question it did not ask."""
    mandarin = _dialect().to_mandarin(message)
    return not (ASKING_RE.search(mandarin) or _ASKS_WITHOUT_PARTICLE.search(mandarin) or asked_kinds(message))


def beyond_asking(message: str) -> str:
    """The message without its asking words (「多久能批」 → 「能批」; 「租房的个税每个月能扣多少」 →
    「租房的个税每个月能扣」), punctuation dropped: what it says besides asking."""
    mandarin = _dialect().to_mandarin(message)
    for pattern in _ASKS.values():
        mandarin = pattern.sub("", mandarin)
    return re.sub(r"[\W_]+", "", mandarin)


def says_kind(text: str, kinds: frozenset[str]) -> bool:
    """Does the passage `text` say a thing of one of `kinds`?"""
    return any(_SAYS[kind].search(text) for kind in kinds)
