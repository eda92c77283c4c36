"""The answer to a question: a quotation of published content, never an invention.

Pure: (question, hits, context) → Answer. Picks the best relevant passage (an official
interpretation or FAQ answer first, else the policy article), names its source (《title》,
文号, issuing body, date, validity), says plainly when it is no longer in force and points to
its successor, links to the H5 page at the article (carrying the answer's reference, so the
page can rate this answer), and ends with one numbered menu: 1 满意 / 2 不满意, then one or two
related documents numbered from RELATED_FIRST_NUMBER. Plain text within REPLY_LIMIT_BYTES,
cut only between characters and never in a link. Below the relevance threshold it says it
found nothing and offers a human.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from bot import links
from bot.relevance import content_units, coverage
from bot.status import STATUS_WORDS
from bot.textlimit import REPLY_LIMIT_BYTES, cut_to_bytes, utf8_len
from index.hits import Hit
from policies.model import Document

MAX_RELATED = 2
# One menu at the end of an answer: the digits below RELATED_FIRST_NUMBER rate the answer
# (bot.questionlog.RATING_WORDS), the related documents are numbered from it.
RELATED_FIRST_NUMBER = 3
FEEDBACK_LINE = "评价本次答复：回复 1 满意，2 不满意"
TRANSFER_LINE = "回复「转人工」联系工作人员。"
MIN_PASSAGE_BYTES = 240


@dataclasses.dataclass(frozen=True)
class AnswerContext:
    public_url: str
    threshold: float
    documents: Mapping[str, Document] = dataclasses.field(default_factory=dict)  # by id
    successors: Mapping[str, Document] = dataclasses.field(default_factory=dict)  # old id → new
    topics: Sequence[str] = ()  # closest topics, for "not found"
    limit_bytes: int = REPLY_LIMIT_BYTES
    answer_ref: str | None = None  # carried by the main link (?r=), to rate the answer on the page


@dataclasses.dataclass(frozen=True)
class Related:
    doc_id: str
    title: str
    passage: str
    article: str | None
    start: int


@dataclasses.dataclass(frozen=True)
class Answer:
    text: str
    answered: bool
    best: Hit | None = None
    related: tuple[Related, ...] = ()
    confidence: float = 0.0
    ref: str | None = None  # this answer's reference: logged with it, rated by it (chat and page);
    #                         only an answer that found something carries it in a link


def compose_answer(question: str, hits: Sequence[Hit], ctx: AnswerContext) -> Answer:
    """`ctx.threshold` applies to the question's coverage by a passage (bot.relevance)."""
    units = content_units(question)
    covered = {h.chunk_id: coverage(units, h) for h in hits}
    relevant = [h for h in sorted(hits, key=lambda h: -h.score) if covered[h.chunk_id] >= ctx.threshold]
    if not relevant:
        top = max(covered.values(), default=0.0)
        return Answer(not_found_text(question, ctx), answered=False, confidence=top,
                      ref=ctx.answer_ref)
    best = choose_best(relevant)
    related = related_documents(best, relevant, ctx)
    text = render_answer(best, related, ctx)
    return Answer(text, answered=True, best=best, related=related, confidence=covered[best.chunk_id],
                  ref=ctx.answer_ref)


def best_coverage(question: str, hits: Sequence[Hit]) -> float:
    """The relevance signal the threshold is calibrated on."""
    units = content_units(question)
    return max((coverage(units, h) for h in hits), default=0.0)


def choose_best(relevant: Sequence[Hit]) -> Hit:
    """In force before not in force; within that, an interpretation or FAQ before an article."""
    def rank(hit: Hit):
        explains = hit.kind == "interpretation" or hit.source == "faq"
        return (not hit.in_force, not explains, -hit.score)
    return min(relevant, key=rank)


def related_documents(best: Hit, relevant: Sequence[Hit], ctx: AnswerContext) -> tuple[Related, ...]:
    seen = {best.doc_id}  # the policy an interpretation explains may follow as number 1
    related: list[Related] = []
    for hit in sorted(relevant, key=lambda h: (not h.in_force, -h.score)):
        if hit.doc_id in seen or len(related) == MAX_RELATED:
            continue
        seen.add(hit.doc_id)
        related.append(Related(hit.doc_id, hit.title, hit.text, hit.article, hit.start))
    return tuple(related)


def render_answer(best: Hit, related: Sequence[Related], ctx: AnswerContext) -> str:
    head = "\n".join(header_lines(best, ctx))
    tail = "\n".join(link_lines(best, ctx) + [FEEDBACK_LINE] + related_lines(related) + [TRANSFER_LINE])
    quote_label = quote_label_of(best)
    room = ctx.limit_bytes - utf8_len(head + tail + quote_label) - 3  # three line breaks
    if room < MIN_PASSAGE_BYTES and related:  # the quotation matters more than the list
        return render_answer(best, (), ctx)
    passage = cut_to_bytes(best.text.strip(), max(room, 0))
    text = "\n".join([head, quote_label + passage, tail])
    return cut_to_bytes(text, ctx.limit_bytes)


def quote_label_of(hit: Hit) -> str:
    if hit.article and hit.text.lstrip().startswith(hit.article):
        return ""  # the passage opens with its own heading
    if hit.article:
        return f"【{hit.article}】"
    return "【官方问答】" if hit.source == "faq" else "【原文摘录】"


def header_lines(hit: Hit, ctx: AnswerContext) -> list[str]:
    lines = [] if hit.in_force else [expired_warning(hit)]
    lines.append(f"《{hit.title}》")
    policy = ctx.documents.get(hit.interprets) if hit.interprets else None
    if policy is not None:
        lines.append(f"（解读《{policy.title}》{'，' + policy.doc_number if policy.doc_number else ''}）")
    meta = [hit.doc_number, hit.issuing_body, f"{hit.publish_date}发布" if hit.publish_date else None,
            validity_words(hit)]
    lines.append("｜".join(m for m in meta if m))
    if not hit.in_force:
        lines.append(successor_line(hit, ctx))
    return lines


def validity_words(hit: Hit) -> str:
    if hit.in_force:
        return f"现行有效（有效期至{hit.valid_until}）" if hit.valid_until else "现行有效"
    if hit.status in ("effective", "expired") and hit.valid_until:
        return f"已失效（有效期至{hit.valid_until}）"
    if hit.status == "effective":
        return "尚未施行"
    return STATUS_WORDS.get(hit.status, "已失效")


def expired_warning(hit: Hit) -> str:
    return f"注意：该文件{validity_words(hit)}，以下内容不代表现行政策，仅供了解。"


def successor_line(hit: Hit, ctx: AnswerContext) -> str:
    successor = ctx.successors.get(hit.doc_id) or ctx.successors.get(hit.interprets or "")
    if successor is None:
        return "暂未查到替代它的现行文件；办理前请回复「转人工」核实最新政策。"
    number = f"（{successor.doc_number}）" if successor.doc_number else ""
    return f"现行文件：《{successor.title}》{number} {links.policy_url(ctx.public_url, successor.id)}"


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


def related_lines(related: Sequence[Related]) -> list[str]:
    if not related:
        return []
    lines = ["相关文件（回复序号查看要点）："]
    lines += [f"{related_number(i)}.《{r.title}》" for i, r in enumerate(related)]
    return lines


def related_number(position: int) -> int:
    """The number a user replies for the related document at `position` (0-based)."""
    return RELATED_FIRST_NUMBER + position


def not_found_text(question: str, ctx: AnswerContext) -> str:
    lines = ["抱歉，在已公开的政策文件和解读中没有找到能回答这个问题的内容，我们不作猜测。"]
    if ctx.topics:
        lines.append("您可以试着问与这些主题有关的问题：" + "、".join(ctx.topics[:5]) + "。")
    lines += ["回复「转人工」由工作人员为您解答；回复「目录」查看现行有效政策目录：",
              links.catalogue_url(ctx.public_url)]
    return cut_to_bytes("\n".join(lines), ctx.limit_bytes)


def related_passage_text(position: int, related: Related, doc: Document | None,
                         ctx: AnswerContext, in_force: bool) -> str:
    """Reply to a number: the key passage of the related document at `position` (0-based),
    with its source, under the number the user replied."""
    title = f"{related_number(position)}.《{related.title}》"
    meta = []
    if doc is not None:
        meta = [doc.doc_number, doc.issuing_body,
                f"{doc.publish_date.isoformat()}发布" if doc.publish_date else None,
                "现行有效" if in_force else "注意：已不在有效期内，仅供了解"]
    label = "" if related.article and related.passage.lstrip().startswith(related.article) else (
        f"【{related.article}】" if related.article else "【要点】")
    url = links.policy_url(ctx.public_url, related.doc_id, passage_anchor(related.article, related.start))
    head = "\n".join([title] + (["｜".join(m for m in meta if m)] if meta else []))
    room = ctx.limit_bytes - utf8_len(head + label + url) - 10
    return "\n".join([head, label + cut_to_bytes(related.passage.strip(), room), "全文：" + url])
