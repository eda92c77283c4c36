"""The answer to a question: a quotation of published content, never an invention.

Pure: (question, hits, context) → Answer. The answer decision (bot.answerability) chooses
the release to answer from, or none; within it the passage that covers most of the
question's words is quoted (an official interpretation or FAQ answer wins near-ties with
the policy article). The reply names its source (《title》, 文号, issuing body, date,
validity), says plainly when it is no longer in force and points to its successor, links to
the H5 page at the passage (carrying the answer's reference, so the page can rate this
answer), and ends with one numbered menu: 1 满意 / 2 不满意, then one or two related documents
numbered from RELATED_FIRST_NUMBER. Plain text within REPLY_LIMIT_BYTES, cut only between
characters and never in a link. When the decision finds nothing it says so and offers a human;
releases that fell short of the operating point but are at least RELATED_SHARE of it probable
(or, when none is, the best few that are so together) are offered under the same numbers, as
documents that may concern the question (not as its answer): a resident whose wording the
decision could not trust still finds the right page.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Callable, Mapping, Sequence

from bot import links
from bot.answerability import AnswerModel, Candidate, Decision, decide
from bot.asking import asked_kinds, bare_topic, says_kind, tells_only
from bot.textlimit import REPLY_LIMIT_BYTES, cut_to_bytes, utf8_len
from index.hits import Hit
from policies.model import Document
from policies.status import Validity
from policies.titles import book_title

MAX_RELATED = 2
# One menu at the end of an answer: the digits below RELATED_FIRST_NUMBER rate the answer
# (bot.questionlog.RATING_WORDS), the related documents are numbered from it.
RELATED_FIRST_NUMBER = 3
FEEDBACK_LINE = "评价本次答复：回复 1 满意，2 不满意"
TRANSFER_LINE = "回复「转人工」联系工作人员。"
MIN_PASSAGE_BYTES = 240
# Choosing the passage to quote: the share of the question's words it says (0–1), plus the
# search's own score relative to the release's best passage (0–1) times SEARCH_SCORE_WEIGHT,
# plus EXPLAINS_BONUS for an interpretation or FAQ answer (quoted first on near-ties; not over
# a passage that says the follow-up's own subject, 身份证, when it does not). Words alone
# favoured long passages that mention everything: of the resident questions answered from a
# right release (data/eval/resident-train.jsonl) the quoted passage held the labelled answer
# for 32 of 62; weighted so (weights 3–6 and bonuses 0.3–2 alike, chosen there) 39, and on
# resident-dev 23 of 37 (was 15).
SEARCH_SCORE_WEIGHT = 4.0
EXPLAINS_BONUS = 0.3
# ...less LENS_WEIGHT for every LENS_STEP its cosine as the answer decision reads it (through
# the tuned model's lens, index.signals) is below the release's best passage's. The search
# ranks with an adapter trained on its fused score, which tells documents apart better than
# passages within one; the lens, trained on cosines, tells passages apart. Chosen on
# data/eval's sets (`bench_answers --questions train`, weights 0, 0.5, 1, 2; the decision of a
# first fit, operating point 0.54): right answers
# quoting the labelled answer 436 → 473 / 480 / 484 of 599 (the lens learned most of these
# sets' questions), resident-calibration's (learned by neither adapter) 67 → 65 / 63 / 63;
# dev resident questions 35 → 39 / 38 / 37 of 50, dialogue turns 19 → 24 / 25 / 24 of 46. At
# 0.5, dev follow-ups quoting it stayed 8 of 21, under their floor (tests/test_quality_floor.py).
LENS_WEIGHT = 1.0
LENS_STEP = 0.05
# ...plus ASKED_BONUS when the passage says the kind of thing the message asks for (bot.asking:
# a place, a period, an amount…; for a follow-up, its own message's). Chosen on data/eval's sets
# (`bench_answers --questions train --no-official`, weights 0, 0.5, 1): right answers quoting the
# labelled answer 490 → 492 / 485 of 619; resident-dev and dev dialogues 69 → 71 / 72 of 105.
# The same is taken from an FAQ answer whose own question asks for a kind of thing the message
# does not (faq_asks_otherwise): it answers another question. Measured by `--dump-replies`
# diffs (2026-12-04): dev 1 of 1,328 replies changed (「在哪里申请？」 after 最多能贷多少 quoted the
# 额度 FAQ again, now the 申请渠道 one: follow-ups quoting the labelled answer 11 → 12 of 22);
# training 1 of 1,150 (a 自己交还是帮交 question now quotes the 申请条件 FAQ, not the 支付标准
# one: 337 → 336 of 408). Half the weight changed neither of those for the better.
ASKED_BONUS = 0.5
RELATED_SHARE = 0.5      # a related document is at least this share of the operating point probable
# Offered together: when no release alone reaches RELATED_SHARE, the best TOGETHER_COUNT may
# together (the chance that one of them is right, 1 − Π(1 − p)); then those of them at least
# TOGETHER_SHARE of the operating point probable are offered.
TOGETHER_COUNT = 3
TOGETHER_SHARE = 0.25
SUGGESTED_HEADING = "以下文件可能与您的问题有关，但不一定能回答（回复序号查看要点）："
TOPIC_DOCUMENTS = 3  # offered for a bare topic (「养老金」): topic_documents
# ...each saying at least this share of the topic (index.signals' message coverage: its
# official forms count, 社保 → 社会保险). Dense search finds something for any word; a document
# that does not say it is not "about" it (「足球」 found the 慈善法 and the 物业管理条例, both 0.0;
# the documents on 养老金, 低保, 医保, 退休… say it whole, 1.0; 公交卡's 0.36 and 0.64).
TOPIC_COVERAGE = 0.3


@dataclasses.dataclass(frozen=True)
class AnswerContext:
    public_url: str
    model: AnswerModel
    documents: Mapping[str, Document] = dataclasses.field(default_factory=dict)  # by id
    successors: Mapping[str, Document] = dataclasses.field(default_factory=dict)  # old id → new
    topics: Sequence[str] = ()  # closest topics, for "not found"
    limit_bytes: int = REPLY_LIMIT_BYTES
    answer_ref: str | None = None  # carried by the main link (?r=), to rate the answer on the page
    today: dt.date = dataclasses.field(default_factory=dt.date.today)  # the government's local day
    topic_release: str | None = None  # a follow-up's: the release the conversation is on
    asks: frozenset[str] = frozenset()  # what the message asks for (bot.asking): a place, a time…
    elliptical: bool = False  # a follow-up of the 「那六一呢」 kind: its subject is the topic's
    among: frozenset[str] | None = None  # the releases it may answer from (None: any): a story's
    #                                      asking clauses, those the whole message found
    offered: Sequence[Hit] = ()  # offered first when nothing is found: the conversation's release
    #                              (topic_passage), before what the message found by itself


@dataclasses.dataclass(frozen=True)
class Related:
    doc_id: str
    title: str
    passage: str
    article: str | None
    start: int
    not_in_force: str | None = None  # its status words (已废止, 已失效…) when not in force: the
    #                                  numbered line says so before anyone opens it


@dataclasses.dataclass(frozen=True)
class Answer:
    text: str
    answered: bool
    best: Hit | None = None
    related: tuple[Related, ...] = ()
    confidence: float = 0.0
    ref: str | None = None  # this answer's reference: logged with it, rated by it (chat and page);
    #                         only an answer that found something carries it in a link
    decision: Decision | None = None


def compose_answer(question: str, hits: Sequence[Hit], ctx: AnswerContext,
                   focus: Callable[[str], Sequence[Hit]] | None = None,
                   avoid: str | None = None) -> Answer:
    """`focus`: for a follow-up read with its topic, the chosen release's passages found for
    the message by itself (release id → hits): the passage quoted answers the message, not the
    topic's question again, and must speak to it (speaks_to); when none does, the reading is
    not a follow-up and the answer says nothing was found (the service then reads the message
    by itself). `avoid`: the passage the previous answer quoted, which a
    follow-up asks beyond (see _beyond_the_quoted)."""
    focused = (lambda release: focus(release) if focus else ())
    # First without the passage just quoted: a release that answers the follow-up by its other
    # passages is answered from them as it always was; only failing that does the quoted one count.
    beyond = [h for h in hits if h.chunk_id != avoid] or list(hits)
    decision = decide(question, beyond, ctx.model, ctx.topic_release, ctx.asks, ctx.among)
    best = choose_passage(decision.chosen, focused(decision.chosen.doc_id), ctx.asks) \
        if decision.chosen else None
    if best is not None and focus is not None and not speaks_to(best, ctx):
        best = None  # only the topic's words found it: 「推荐个餐厅」 right after 公租房怎么申请
    if best is None and focus is not None:
        decision, best = _beyond_the_quoted(question, hits, ctx, focused, avoid)
    if decision.chosen is None or best is None:
        topic = bare_topic(question) if focus is None else None
        offered = topic_documents(decision, ctx) if topic is not None else ()
        if topic is not None and offered:
            return Answer(topic_text(topic, ctx, offered), answered=False, related=offered,
                          confidence=decision.probability, ref=ctx.answer_ref, decision=decision)
        suggested = _offered_first(ctx, suggested_documents(decision, ctx))
        told = focus is None and tells_only(question)
        return Answer(not_found_text(question, ctx, suggested, told), answered=False,
                      related=suggested, confidence=decision.probability, ref=ctx.answer_ref,
                      decision=decision)
    related = related_documents(best, decision, ctx)
    text = render_answer(best, related, ctx)
    return Answer(text, answered=True, best=best, related=related, confidence=decision.probability,
                  ref=ctx.answer_ref, decision=decision)


def _beyond_the_quoted(question: str, hits: Sequence[Hit], ctx: AnswerContext,
                       focused: Callable[[str], Sequence[Hit]],
                       avoid: str | None) -> tuple[Decision, Hit | None]:
    """A follow-up whose release is probable only with the passage just quoted (「那张卡去哪办理」
    after 坐地铁免费吗: the topic's words are that passage's). The release answers the topic; it
    answers the follow-up when another of its passages says the message's own words or the kind
    of thing it asks for (answers_message), and that one is quoted. None when none does:
    「我家猫不吃东西怎么办」 after a bus question is not answered by the same release's park
    passage."""
    decision = decide(question, hits, ctx.model, ctx.topic_release, ctx.asks, ctx.among)
    if decision.chosen is None:
        return decision, None
    own = tuple(h for h in decision.chosen.hits if h.chunk_id != avoid and speaks_to(h, ctx))
    pool = [h for h in focused(decision.chosen.doc_id) if speaks_to(h, ctx)]
    if not own and not pool:
        return decision, None
    return decision, choose_passage(dataclasses.replace(decision.chosen, hits=own), pool, ctx.asks)


def choose_passage(candidate: Candidate, focused: Sequence[Hit] = (),
                   asks: frozenset[str] = frozenset()) -> Hit:
    """The passage of the release that answers the question's subject: in force first, then
    the search's score relative to the release's best passage, and its cosine as the decision
    reads it relative to theirs, together with the share of the message's words in the
    passage itself (the title is the same for all of a document's passages, so a document
    named in the question does not decide), one saying the kind of thing `asks` names (a
    place, a period, an amount: bot.asking) and an interpretation or FAQ answer winning
    near-ties, then the search's order. `focused`: the release's passages found for a
    follow-up read with its topic; those using the message's own words are ranked instead
    (the topic's words are in most of the release's passages: its asking point, 在哪里申请 or
    多久, tells them apart)."""
    pool = [h for h in focused if answers_message(h, asks)] or list(candidate.hits)
    top = max((h.score for h in pool), default=0.0)
    best_judged = max((c for h in pool if (c := _judged_cosine(h)) is not None), default=0.0)

    def rank(position_hit: tuple[int, Hit]):
        position, hit = position_hit
        covered = hit.signals.message_coverage if hit.signals is not None else 0.0
        explains = EXPLAINS_BONUS if hit.kind == "interpretation" or hit.source == "faq" else 0.0
        searched = SEARCH_SCORE_WEIGHT * hit.score / top if top > 0 else 0.0
        judged = _judged_cosine(hit)
        below = LENS_WEIGHT * (best_judged - judged) / LENS_STEP if judged is not None else 0.0
        says = ASKED_BONUS if asks and says_kind(hit.text, asks) else 0.0
        other = ASKED_BONUS if faq_asks_otherwise(hit, asks) else 0.0
        return (not hit.in_force, -(covered + explains + searched + says - below - other), position)
    return min(enumerate(pool), key=rank)[1]


def faq_asks_otherwise(hit: Hit, asks: frozenset[str]) -> bool:
    """An FAQ answer whose own question asks for a kind of thing the message does not
    (「失业金怎么领」 is not answered by 「问：失业保险金能领到多少钱？」, which asks an amount)."""
    if hit.source != "faq" or not hit.text.startswith("问："):
        return False
    question = hit.text[2:].partition("\n答：")[0]
    return bool(asked_kinds(question) - asks)


def _judged_cosine(hit: Hit) -> float | None:
    """The passage's cosine as the answer decision reads it (through the lens; index.signals)."""
    return hit.signals.cosine if hit.signals is not None else None


def says_message(hit: Hit) -> bool:
    """The passage uses words of the message itself (a follow-up's own words, without its
    topic's question: index.signals message_coverage)."""
    return hit.signals is not None and hit.signals.message_coverage > 0


def answers_message(hit: Hit, asks: frozenset[str]) -> bool:
    """The passage speaks to a follow-up's own message: it uses the message's words, or it
    says the kind of thing the message asks for (bot.asking). 「几天能拿到？」 after 社保卡怎么申请
    shares no word with 「需等待12个工作日领卡」, which is its answer."""
    return says_message(hit) or bool(asks) and says_kind(hit.text, asks)


def speaks_to(hit: Hit, ctx: AnswerContext) -> bool:
    """A passage may answer a follow-up read with its topic when it speaks to the message
    itself (answers_message), or when the message is elliptical (「那六一呢」 after 春节放几天:
    its subject is the topic's, named briefly, and 「儿童节（6月1日）」 answers it)."""
    return ctx.elliptical or answers_message(hit, ctx.asks)


def related_documents(best: Hit, decision: Decision, ctx: AnswerContext) -> tuple[Related, ...]:
    """The policy the quoted interpretation explains, then other probable releases."""
    related: list[Related] = []
    chosen = decision.chosen
    if chosen is not None and best.doc_id != chosen.doc_id:
        policy = next((h for h in chosen.hits if h.doc_id == chosen.doc_id), None)
        if policy is not None:
            related.append(_related(policy, ctx))
    floor = ctx.model.threshold * RELATED_SHARE
    for candidate in decision.ranked:
        if len(related) == MAX_RELATED:
            break
        if candidate is not chosen and candidate.probability >= floor:
            related.append(_related(choose_passage(candidate), ctx))
    return tuple(related)


def suggested_documents(decision: Decision, ctx: AnswerContext) -> tuple[Related, ...]:
    """When nothing is answered: the releases at least RELATED_SHARE of the operating point
    probable, most probable first (their passage chosen as an answer's would be). When none is
    but the best few are together (TOGETHER_COUNT): a question that an FAQ, a regulation and a
    law each partly answer (「失业金怎么领」) splits its probability among them, and offering
    them beats suggesting topics."""
    return tuple(_related(choose_passage(c), ctx) for c in _suggested(decision, ctx))


def _suggested(decision: Decision, ctx: AnswerContext) -> list[Candidate]:
    floor = ctx.model.threshold * RELATED_SHARE
    offered = [c for c in decision.ranked if c.probability >= floor]
    if not offered:
        best = decision.ranked[:TOGETHER_COUNT]
        if 1.0 - math.prod(1.0 - c.probability for c in best) >= floor:
            offered = [c for c in best if c.probability >= ctx.model.threshold * TOGETHER_SHARE]
    return offered[:MAX_RELATED]


def topic_documents(decision: Decision, ctx: AnswerContext) -> tuple[Related, ...]:
    """For a bare topic (bot.asking.bare_topic): of the releases that say it (TOPIC_COVERAGE),
    those a question would have been offered (suggested_documents), then the others in the
    search's order (their best passage's score), those in force first; none when none says it.
    A topic asks nothing, so every release is far from the operating point, and below the
    offering floor the decision's order says little of which documents are about it."""
    def order(candidate: Candidate):
        return (not any(h.in_force for h in candidate.hits), -max(h.score for h in candidate.hits))
    found = sorted((c for c in decision.ranked if _says_topic(c)), key=order)
    suggested = [c for c in _suggested(decision, ctx) if _says_topic(c)]
    releases = list(dict.fromkeys(c.doc_id for c in suggested + found))
    by_release = {c.doc_id: c for c in decision.ranked}
    return tuple(_related(choose_passage(by_release[r]), ctx) for r in releases[:TOPIC_DOCUMENTS])


def topic_passage(passages: Sequence[Hit]) -> Hit | None:
    """Of the conversation's release's passages found for a message that nothing answered,
    the best that says at least TOPIC_COVERAGE of the message's own words (index.signals'
    message coverage): 「要带什么材料」 right after 居住证怎么办理 is most likely asked of the
    release just quoted, and its 材料 passage beats topics drawn from the message's words alone;
    「我家猫不吃东西怎么办」 after a bus answer finds no passage saying 猫 and is offered none; nor
    is one that does not say what the message names (「医保怎么交」 after 公租房: the rules say 交,
    not 医保) or says it only in other terms (「养老金什么时候涨」 after 失业金: the FAQ's 养老保险费
    is not the 养老金 asked about)."""
    return next((h for h in passages if h.signals is not None and _says_what_is_named(h.signals)), None)


def _says_what_is_named(signals) -> bool:
    return signals.message_coverage >= TOPIC_COVERAGE and signals.subject_coverage >= TOPIC_COVERAGE \
        and signals.subject_otherwise < TOPIC_COVERAGE


def _offered_first(ctx: AnswerContext, suggested: Sequence[Related]) -> tuple[Related, ...]:
    first = tuple(_related(hit, ctx) for hit in ctx.offered)
    ids = {r.doc_id for r in first}
    return (first + tuple(r for r in suggested if r.doc_id not in ids))[:MAX_RELATED]


def _says_topic(candidate: Candidate) -> bool:
    return any(h.signals is not None and h.signals.message_coverage >= TOPIC_COVERAGE
               for h in candidate.hits)


def _related(hit: Hit, ctx: AnswerContext) -> Related:
    return Related(hit.doc_id, hit.title, hit.list_text or hit.text, hit.article, hit.start,
                   None if hit.in_force else validity_words(hit, ctx))


def render_answer(best: Hit, related: Sequence[Related], ctx: AnswerContext) -> str:
    head = "\n".join(header_lines(best, ctx))
    tail = "\n".join(link_lines(best, ctx) + [FEEDBACK_LINE] + related_lines(related) + [TRANSFER_LINE])
    quote_label = quote_label_of(best)
    room = ctx.limit_bytes - utf8_len(head + tail + quote_label) - 3  # three line breaks
    if room < MIN_PASSAGE_BYTES and related:  # the quotation matters more than the list
        return render_answer(best, (), ctx)
    passage = cut_to_bytes(quoted_text(best, room), max(room, 0))
    text = "\n".join([head, quote_label + passage, tail])
    return cut_to_bytes(text, ctx.limit_bytes)


def quoted_text(hit: Hit, room: int) -> str:
    """The passage, or the short list it is one item of when the whole list has room (index.hits
    list_text): the other items are the other cases of the same rule (students' rate and everyone
    else's), and the resident sees which one is theirs."""
    whole = (hit.list_text or "").strip()
    return whole if whole and utf8_len(whole) <= room else hit.text.strip()


def quote_label_of(hit: Hit) -> str:
    if hit.article and hit.text.lstrip().startswith(hit.article):
        return ""  # the passage opens with its own heading
    if hit.article:
        return f"【{hit.article}】"
    return "【官方问答】" if hit.source == "faq" else "【原文摘录】"


def header_lines(hit: Hit, ctx: AnswerContext) -> list[str]:
    lines = [] if hit.in_force else [expired_warning(hit, ctx)]
    lines.append(book_title(hit.title))
    policy = ctx.documents.get(hit.interprets) if hit.interprets else None
    if policy is not None:
        number = f"，{policy.doc_number}" if policy.doc_number else ""
        lines.append(f"（解读{book_title(policy.title)}{number}）")
    meta = [hit.doc_number, hit.issuing_body, f"{hit.publish_date}发布" if hit.publish_date else None,
            validity_words(hit, ctx)]
    lines.append("｜".join(m for m in meta if m))
    if not hit.in_force:
        lines.append(successor_line(hit, ctx))
    return lines


def validity_words(hit: Hit, ctx: AnswerContext) -> str:
    """The hit's status word (policies.status; an interpretation's is its policy's)."""
    successor = successor_of(hit, ctx)
    return Validity.of(hit).word(ctx.today, successor.title if successor else None)


def expired_warning(hit: Hit, ctx: AnswerContext) -> str:
    if Validity.of(hit).state(ctx.today) == "upcoming":
        return f"注意：该文件{validity_words(hit, ctx)}，施行前以现行规定为准。"
    return f"注意：该文件{validity_words(hit, ctx)}，以下内容不代表现行政策，仅供了解。"


def successor_of(hit: Hit, ctx: AnswerContext) -> Document | None:
    return ctx.successors.get(hit.doc_id) or ctx.successors.get(hit.interprets or "")


def successor_line(hit: Hit, ctx: AnswerContext) -> str:
    successor = successor_of(hit, ctx)
    if Validity.of(hit).state(ctx.today) == "upcoming":
        return "施行日期前，请以现行政策为准；回复「转人工」可咨询工作人员。"
    if successor is None:
        return "暂未查到替代它的现行文件；办理前请回复「转人工」核实最新政策。"
    number = f"（{successor.doc_number}）" if successor.doc_number else ""
    return f"现行文件：{book_title(successor.title)}{number} {links.policy_url(ctx.public_url, successor.id)}"


def link_lines(hit: Hit, ctx: AnswerContext) -> list[str]:
    return ["全文：" + hit_url(hit, ctx)]


def hit_url(hit: Hit, ctx: AnswerContext) -> str:
    """The answer's main link; the only one carrying the answer's reference."""
    if hit.kind == "interpretation" and hit.interprets and hit.interprets in ctx.documents:
        return links.policy_url(ctx.public_url, hit.interprets, links.interpretation_anchor(hit.doc_id),
                                ctx.answer_ref)
    return links.policy_url(ctx.public_url, hit.doc_id, passage_anchor(hit.article, hit.start),
                            ctx.answer_ref)


def passage_anchor(article: str | None, start: int) -> str | None:
    if article:
        return links.article_anchor(article)
    return links.offset_anchor(start) if start >= 0 else None


def related_lines(related: Sequence[Related], heading: str = "相关文件（回复序号查看要点）：") -> list[str]:
    if not related:
        return []
    return [heading] + [f"{related_number(i)}.{book_title(r.title)}"
                        + (f"｜{r.not_in_force}" if r.not_in_force else "") for i, r in enumerate(related)]


def _related_status(validity: Validity, ctx: AnswerContext) -> str:
    word = validity.word(ctx.today)
    return word if validity.in_force(ctx.today) else f"注意：该文件{word}，仅供了解"


def related_number(position: int) -> int:
    """The number a user replies for the related document at `position` (0-based)."""
    return RELATED_FIRST_NUMBER + position


def not_found_text(question: str, ctx: AnswerContext, suggested: Sequence[Related] = (),
                   told: bool = False) -> str:
    """`told`: the message told what happened and asked nothing (bot.asking.tells_only): it is
    asked what the resident wants to know."""
    lines = [TOLD_ONLY if told else NOT_FOUND]
    if suggested:
        lines += related_lines(suggested, SUGGESTED_HEADING)
    elif ctx.topics:
        lines.append("您可以试着问与这些主题有关的问题：" + "、".join(ctx.topics[:5]) + "。")
    return cut_to_bytes("\n".join(lines + _other_ways(ctx)), ctx.limit_bytes)


NOT_FOUND = "抱歉，在已公开的政策文件和解读中没有找到能回答这个问题的内容，我们不作猜测。"
TOLD_ONLY = ("您想问什么呢？请把问题说完整一些（比如能领什么补贴、去哪里办、要带什么材料），我能找得更准。"
             "只看这一句，没有找到能回答的内容，我们不作猜测。")


def topic_text(topic: str, ctx: AnswerContext, offered: Sequence[Related]) -> str:
    """A bare topic is asked back, not refused: which part of it, and the documents on it."""
    lines = [f"您想了解「{topic}」的哪方面？请把问题说完整一些（比如想办什么事、遇到了什么情况），"
             "我能找得更准。"]
    lines += related_lines(offered, f"以下文件与「{topic}」有关（回复序号查看要点）：")
    return cut_to_bytes("\n".join(lines + _other_ways(ctx)), ctx.limit_bytes)


def _other_ways(ctx: AnswerContext) -> list[str]:
    return ["回复「转人工」由工作人员为您解答；回复「目录」查看现行有效政策目录：",
            links.catalogue_url(ctx.public_url)]


def related_passage_text(position: int, related: Related, doc: Document | None,
                         ctx: AnswerContext, validity: Validity) -> str:
    """Reply to a number: the key passage of the related document at `position` (0-based),
    with its source, under the number the user replied."""
    title = f"{related_number(position)}.{book_title(related.title)}"
    meta = []
    if doc is not None:
        meta = [doc.doc_number, doc.issuing_body,
                f"{doc.publish_date.isoformat()}发布" if doc.publish_date else None,
                _related_status(validity, ctx)]
    label = "" if related.article and related.passage.lstrip().startswith(related.article) else (
        f"【{related.article}】" if related.article else "【要点】")
    url = links.policy_url(ctx.public_url, related.doc_id, passage_anchor(related.article, related.start))
    head = "\n".join([title] + (["｜".join(m for m in meta if m)] if meta else []))
    room = ctx.limit_bytes - utf8_len(head + label + url) - 10
    return "\n".join([head, label + cut_to_bytes(related.passage.strip(), room), "全文：" + url])
