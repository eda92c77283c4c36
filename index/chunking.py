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
from collections.abc import Callable

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
# A notice's list of short items is quoted whole (enclosing_list) up to this many items and
# characters (its lead line included): a WeChat reply has room for ~650 characters in all.
LIST_ITEMS = 8
LIST_CHARS = 300


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


def enclosing_list(chunk_at: Callable[[int], Chunk | None], ordinal: int) -> str | None:
    """The short list the chunk at `ordinal` is one item of, as a reply quotes it: its lead (the
    chunk opening the list, else the heading the items stand under) and every item, in order.
    An item alone answers one case of several: 「居民医保一年交多少钱」 found 「（一）在校学生：个人
    缴费标准为每人413元」, and an adult read the students' rate as theirs; the list goes on with
    「（二）其他参保人员：…549元」. None when the chunk is no item of a notice's outline (an
    article keeps its items; FAQ answers, table rows and sections stand alone), when the list is
    not whole in the chunks (an item split in pieces, items with items of their own) or longer
    than LIST_ITEMS items or LIST_CHARS characters. `chunk_at`: the document's chunk by ordinal
    (None past either end)."""
    chunk = chunk_at(ordinal)
    if chunk is not None and _opens_list(chunk, chunk_at(ordinal + 1)):
        return enclosing_list(chunk_at, ordinal + 1)  # 「…下列人员：」 quoted without its items says nothing
    if chunk is None or not _is_item(chunk):
        return None
    parent = chunk.heading_path[:-1]
    first = last = ordinal
    while _is_item(before := chunk_at(first - 1), parent) and last - first < LIST_ITEMS:
        first -= 1
    while _is_item(after := chunk_at(last + 1), parent) and last - first < LIST_ITEMS:
        last += 1
    if last == first or last - first + 1 > LIST_ITEMS or _under(before, parent) or _under(after, parent):
        return None
    items = [c.text for n in range(first, last + 1) if (c := chunk_at(n)) is not None]
    lead = _lead(before, parent)
    text = "\n".join([lead, *items] if lead else items)
    return text if len(text) <= LIST_CHARS else None


def _lead(before: Chunk | None, parent: tuple[str, ...]) -> str:
    """What opens a list: the chunk before its first item when it stands under the same
    heading (「一、参保范围\n…下列人员：」), else that heading (「二、缴费标准」); "" at the top."""
    if before is not None and before.heading_path == parent and before.source == "text" \
            and not before.article:
        return before.text
    return parent[-1] if parent else ""


def _is_item(chunk: Chunk | None, parent: tuple[str, ...] | None = None) -> bool:
    """A whole item of a notice's outline ((一) / 1. / (1) and its text on the same line), under
    `parent` when given: not the second piece of a long item (it does not open with the item's
    heading), nor a heading over text of its own (「（一）租金标准」, then the rents: a section, whose
    neighbours are other sections, not other cases)."""
    if chunk is None or chunk.source != "text" or chunk.article or not chunk.heading_path:
        return False
    heading, line = chunk.heading_path[-1], chunk.text.split("\n", 1)[0]
    return (parent is None or chunk.heading_path[:-1] == parent) and line.startswith(heading) \
        and len(line) > len(heading) and any(pattern.match(heading) for pattern in OUTLINE_RES[1:])


def _opens_list(chunk: Chunk, after: Chunk | None) -> bool:
    """The chunk introduces the items after it (「…的下列人员：」)."""
    return chunk.source == "text" and not chunk.article and chunk.text.rstrip().endswith(("：", ":")) \
        and _is_item(after, chunk.heading_path)


def _under(chunk: Chunk | None, parent: tuple[str, ...]) -> bool:
    """Part of the list under `parent` without being one of its whole items (a piece of a long
    item, an item's own items): the chunks do not hold the list whole."""
    return chunk is not None and len(chunk.heading_path) > len(parent) \
        and chunk.heading_path[:len(parent)] == parent


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
