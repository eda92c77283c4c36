"""Chunking that follows a document's structure.

Laws and regulations: 第X编/章/节 build the heading path, each 第X条 is a chunk (its
（一）… items stay inside it). Notices and plans: 一、 /（一）/ 1. / （1） build the path.
Official FAQ pairs: one question+answer a chunk. Table rows written one a line
(`序号：n；…`): one row a chunk. Long blocks are split at sentence ends with one sentence of
overlap, so every chunk is short enough to quote in a WeChat reply.
Pure: a Document in, a list of Chunks out.
"""
from __future__ import annotations

import dataclasses
import re

from policies.model import Document

MAX_CHARS = 420        # a WeChat text reply holds ~650 Chinese characters; leave room
MIN_SPLIT_TAIL = 60    # do not leave a tiny last piece: merge it into the previous one

_NUM = "[一二三四五六七八九十百千零〇两0-9０-９]+"
ARTICLE_RE = re.compile(rf"^第{_NUM}条(?:之{_NUM})?")
PART_RE = re.compile(rf"^第{_NUM}(编|分编|章|节)(?:\s|$)")
PART_LEVEL = {"编": 0, "分编": 1, "章": 2, "节": 3}
# Notice/plan headings, outermost first.
OUTLINE_RES = (
    re.compile(r"^[一二三四五六七八九十]+、"),
    re.compile(r"^[（(][一二三四五六七八九十]+[)）]"),
    re.compile(r"^[0-9０-９]+[.．、](?![0-9])"),
    re.compile(r"^[（(][0-9０-９]+[)）]"),
)
TABLE_ROW_RE = re.compile(r"^序号[：:]\s*\d+")
SENTENCE_END_RE = re.compile(r"(?<=[。！？；!?;])")
HEADING_MAX = 40       # a heading line longer than this also carries body text


@dataclasses.dataclass(frozen=True)
class Chunk:
    doc_id: str
    ordinal: int
    heading_path: tuple[str, ...]
    article: str | None
    text: str
    start: int
    end: int
    source: str = "text"

    @property
    def chunk_id(self) -> str:
        return f"{self.doc_id}#{self.ordinal}"


@dataclasses.dataclass
class _Block:
    path: tuple[str, ...]
    article: str | None
    lines: list[tuple[int, str]]  # (offset, line)
    source: str = "text"


def chunk_document(doc: Document) -> list[Chunk]:
    blocks = _blocks(doc.text, law_mode=_is_law(doc.text))
    pieces = [piece for block in blocks for piece in _split_block(block)]
    pieces += _faq_pieces(doc)
    pieces += _section_pieces(doc)
    return [Chunk(doc.id, n, *piece) for n, piece in enumerate(pieces)]


def _is_law(text: str) -> bool:
    return sum(1 for line in text.splitlines() if ARTICLE_RE.match(line.strip())) >= 3


def _lines(text: str):
    offset = 0
    for raw in text.splitlines(keepends=True):
        stripped = raw.strip()
        if stripped:
            yield offset + raw.index(stripped[0]), stripped
        offset += len(raw)


def _blocks(text: str, law_mode: bool) -> list[_Block]:
    """Group lines into blocks: a new block at every heading, article or table row."""
    path: list[tuple[int, str]] = []  # (level, heading), outermost first
    blocks: list[_Block] = []
    current = _Block((), None, [])
    for offset, line in _lines(text):
        kind, level, heading = _classify(line, law_mode)
        if kind == "body":
            if current.source == "table":  # prose after a table row is not part of the row
                blocks.append(current)
                current = _Block(tuple(h for _, h in path), None, [])
            current.lines.append((offset, line))
            continue
        if kind in ("part", "outline"):
            path = [p for p in path if p[0] < level] + [(level, heading)]
        elif kind == "article":  # the article is a chunk's `article`, not part of its path
            path = [p for p in path if p[0] < level]
        blocks.append(current)
        current = _Block(tuple(h for _, h in path), heading if kind == "article" else None,
                         [(offset, line)], "table" if kind == "row" else "text")
    blocks.append(current)
    blocks = [b for b in blocks if b.lines]
    return [b for b, after in zip(blocks, blocks[1:] + [None], strict=False) if not _bare_heading(b, after)]


def _bare_heading(block: _Block, after: _Block | None) -> bool:
    """A lone heading line whose next block lies under it: its words live on in that block's
    heading path, so it needs no chunk of its own."""
    if len(block.lines) != 1 or block.source != "text" or block.article or not block.path:
        return False
    return after is not None and after.path[:len(block.path)] == block.path


def _classify(line: str, law_mode: bool) -> tuple[str, int, str]:
    """('article'|'part'|'outline'|'row'|'body', level, heading text)."""
    if TABLE_ROW_RE.match(line):
        return "row", 99, line
    match = ARTICLE_RE.match(line)
    if match and law_mode:
        return "article", 10, match.group(0)
    match = PART_RE.match(line)
    if match and len(line) <= HEADING_MAX:
        return "part", PART_LEVEL[match.group(1)], line
    if law_mode:
        return "body", 0, ""
    for level, pattern in enumerate(OUTLINE_RES, start=4):
        if pattern.match(line):
            return "outline", level, _heading_text(line)
    return "body", 0, ""


def _heading_text(line: str) -> str:
    """`（一）进一步完善……机制。坚持……` → `（一）进一步完善……机制`."""
    first = re.split(r"[。；：:！？]", line, maxsplit=1)[0]
    return first[:HEADING_MAX]


def _split_block(block: _Block):
    """(path, article, text, start, end, source) pieces of at most ~MAX_CHARS."""
    units = [u for offset, line in block.lines for u in _sentences(offset, line)]
    for group in _pack(units):
        start, end = group[0][0], group[-1][0] + len(group[-1][1])
        text = "\n".join(_join_lines(group))
        yield block.path, block.article, text, start, end, block.source


# A sentence unit: (offset in the text, the sentence, whether it ends its line).
Unit = tuple[int, str, bool]


def _sentences(offset: int, line: str) -> list[Unit]:
    """Sentence units of one line, with their offsets; the last unit ends the line."""
    if len(line) <= MAX_CHARS:
        return [(offset, line, True)]
    parts = [p for p in SENTENCE_END_RE.split(line) if p]
    units: list[Unit] = []
    position = offset
    for part in parts:
        for i in range(0, len(part), MAX_CHARS):  # a single over-long sentence: hard cut
            units.append((position + i, part[i:i + MAX_CHARS], False))
        position += len(part)
    units[-1] = units[-1][:2] + (True,)
    return units


def _pack(units: list[Unit]) -> list[list[Unit]]:
    """Greedy packing; a new piece starts with the previous piece's last sentence."""
    groups: list[list[Unit]] = []
    current: list[Unit] = []
    size = 0
    for unit in units:
        if current and size + len(unit[1]) > MAX_CHARS:
            groups.append(current)
            overlap = current[-1:] if len(current) > 1 and len(current[-1][1]) < MAX_CHARS // 3 else []
            current, size = list(overlap), sum(len(u[1]) for u in overlap)
        current.append(unit)
        size += len(unit[1])
    if current:
        if groups and size < MIN_SPLIT_TAIL and len(groups[-1]) > 0:
            groups[-1] = groups[-1] + [u for u in current if u not in groups[-1]]
        else:
            groups.append(current)
    return groups


def _join_lines(group) -> list[str]:
    """Sentences of one line are joined; line ends become newlines."""
    lines, current = [], ""
    for _, text, ends_line in group:
        current += text
        if ends_line:
            lines.append(current)
            current = ""
    if current:
        lines.append(current)
    return lines


def _faq_pieces(doc: Document):
    for pair in doc.faq:
        question, answer = pair["q"].strip(), pair["a"].strip()
        start = doc.text.find(question)
        end = start + len(question) if start >= 0 else -1
        found = doc.text.find(answer[:30], max(start, 0)) if answer else -1
        if start >= 0 and found >= 0:
            end = found + len(answer)
        for piece in _split_qa(question, answer):
            yield (("常见问题",), None, piece, start, end, "faq")


def _split_qa(question: str, answer: str) -> list[str]:
    """问+答 in one chunk; a long answer is split, each piece keeping the question."""
    head = f"问：{question}\n答："
    room = max(MAX_CHARS - len(head), 120)
    units = [(0, u[1], False) for u in _sentences(0, answer.replace("\n", ""))] if len(answer) > room \
        else [(0, answer, False)]
    pieces, current = [], ""
    for _, text, _ in units:
        if current and len(current) + len(text) > room:
            pieces.append(current)
            current = ""
        current += text
    pieces.append(current)
    return [head + p for p in pieces]


def _section_pieces(doc: Document):
    for section in doc.sections:
        block = _Block((section["name"],), None, [(-1, line.strip()) for line in
                                                  section["text"].splitlines() if line.strip()],
                       "section")
        for path, article, text, _, _, source in _split_block(block):
            yield path, article, text, -1, -1, source
