"""What the policy page shows, prepared outside the template: text lines with their anchors,
grouped so that an article's anchor holds all its paragraphs (a reply's link to 第五条
highlights the whole article), the validity banner, the successor and the interpretations
beside the policy."""
from __future__ import annotations

import dataclasses
import datetime as dt

from bot import links
from index.chunking import ARTICLE_RE, OUTLINE_RES, PART_RE, chunk_document
from policies import store
from policies.model import Document
from policies.status import Validity


@dataclasses.dataclass
class Line:
    text: str
    anchors: list[str]
    heading: bool


@dataclasses.dataclass
class Block:
    """Consecutive lines: one article (anchored as a whole) or text outside any article."""
    anchor: str | None
    lines: list[Line]


@dataclasses.dataclass
class Page:
    doc: Document
    lines: list[Line]
    blocks: list[Block]
    current: bool
    status: str
    upcoming: dt.date | None  # published, taking effect on this later day (尚未施行)
    successor: Document | None
    policy: Document | None  # for an interpretation: the policy it explains
    interpretations: list[tuple[Document, list[Line]]]


def document_page(conn, doc: Document, today: dt.date) -> Page:
    successor = store.successor_of(conn, doc.id)
    policy = store.get_document(conn, doc.interprets) if doc.interprets else None
    explained = [d for d in store.interpretations_of(conn, doc.id, visibility="public")]
    lines = text_lines(doc)
    validity = Validity.of(doc, policy)  # an interpretation stands as its policy does
    return Page(doc=doc, lines=lines, blocks=article_blocks(lines), current=validity.in_force(today),
                status=validity.word(today, successor.title if successor else None),
                upcoming=validity.valid_from if validity.state(today) == "upcoming" else None,
                successor=successor, policy=policy,
                interpretations=[(d, text_lines(d)) for d in explained])


def text_lines(doc: Document) -> list[Line]:
    """One Line a paragraph; article headings get their anchor, and every chunk start (of
    any kind: an official Q&A pair starts where its question stands in the text) gets its
    offset anchor, so a reply's link lands on the passage it quoted."""
    starts = sorted({c.start for c in chunk_document(doc) if c.start >= 0})
    lines, offset, seen = [], 0, set()
    for raw in doc.text.split("\n"):
        end = offset + len(raw) + 1
        anchors = [links.offset_anchor(s) for s in starts if offset <= s < end]
        article = ARTICLE_RE.match(raw.strip())
        if article and article.group(0) not in seen:
            seen.add(article.group(0))
            anchors.insert(0, links.article_anchor(article.group(0)))
        if raw.strip():
            lines.append(Line(raw.strip(), anchors, heading=_is_heading(raw)))
        offset = end
    return lines


def article_blocks(lines: list[Line]) -> list[Block]:
    """An article runs from its 第X条 line to the next article or heading; its anchor moves
    from the first line to the block."""
    blocks: list[Block] = []
    for line in lines:
        article = next((a for a in line.anchors if a.startswith(links.article_anchor(""))), None)
        if article:
            line.anchors.remove(article)
            blocks.append(Block(article, [line]))
        elif blocks and blocks[-1].anchor and not line.heading:
            blocks[-1].lines.append(line)
        elif blocks and blocks[-1].anchor is None:
            blocks[-1].lines.append(line)
        else:
            blocks.append(Block(None, [line]))
    return blocks


def _is_heading(line: str) -> bool:
    text = line.strip()
    return len(text) <= 30 and bool(PART_RE.match(text) or OUTLINE_RES[0].match(text))
