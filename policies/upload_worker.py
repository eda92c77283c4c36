"""Parse one uploaded file in a separate, resource-limited process.

    python -I policies/upload_worker.py KIND < file > result.json

KIND is docx, pdf, html, txt or md, already checked by content (policies/uploads.py). The
process limits its own address space, CPU time and file writes before it reads a byte, so a
zip bomb, a PDF loop or a parser bug costs this process, never the server. It imports
nothing of the project: a fresh interpreter (never a fork of a worker that has used the
embedding model) with only lxml, pypdf and nh3.

Output: JSON {"text": body with one paragraph or heading a line, "parts": {hidden parts that
the confidentiality scan must see: comments, tracked changes, headers, footers, notes,
metadata}, "title_hint": str|null, "html": sanitised HTML or null}.
"""
from __future__ import annotations

import html.parser
import io
import json
import re
import resource
import signal
import sys
import zipfile
from collections.abc import Mapping
from typing import Any

MEMORY_LIMIT = 1024 * 1024 * 1024
CPU_SECONDS = 20
MAX_MEMBER_BYTES = 64 * 1024 * 1024
MAX_PDF_PAGES = 1000

W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


class Unreadable(Exception):
    pass


def limit_resources() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_SECONDS, CPU_SECONDS))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write fails (EFBIG) instead of killing
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))  # writes no file
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


# -- docx ---------------------------------------------------------------------------------------

def parse_docx(data: bytes) -> dict:
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        xml = {name: etree.fromstring(_read_member(zf, name), parser)
               for name in zf.namelist() if name.endswith(".xml") or name.endswith(".rels")}
    if "word/document.xml" not in xml:
        raise Unreadable("不是 Word 文档（缺少 word/document.xml）")
    body = xml["word/document.xml"].find(f"{W}body")
    lines = _block_lines(body) if body is not None else []
    parts = {
        "comments": _all_paragraphs(xml, r"word/comments\.xml"),
        "headers": _all_paragraphs(xml, r"word/header\d*\.xml"),
        "footers": _all_paragraphs(xml, r"word/footer\d*\.xml"),
        "footnotes": _all_paragraphs(xml, r"word/(foot|end)notes\.xml"),
        "tracked deletions": _texts(xml["word/document.xml"], f"{W}delText"),
        "tracked insertions": _inserted(xml["word/document.xml"]),
        "metadata": _metadata(xml),
    }
    title = _core_title(xml.get("docProps/core.xml"))
    return {"text": "\n".join(lines), "parts": parts, "title_hint": title, "html": None}


def _read_member(zf: zipfile.ZipFile, name: str) -> bytes:
    """Read a member, never past its declared size; a lying size fails the CRC check."""
    info = zf.getinfo(name)
    if info.file_size > MAX_MEMBER_BYTES:
        raise Unreadable(f"部件 {name} 过大（{info.file_size} 字节）")
    with zf.open(info) as member:
        data = member.read(MAX_MEMBER_BYTES + 1)
    if len(data) != info.file_size:
        raise Unreadable(f"部件 {name} 的大小与目录记载不符，文件已损坏或被篡改")
    return data


def _block_lines(container) -> list[str]:
    """Paragraphs one a line, table rows one a line (cells joined), in document order."""
    lines = []
    for child in container:
        if child.tag == f"{W}p":
            lines.append(_paragraph_text(child))
        elif child.tag == f"{W}tbl":
            for row in child.iter(f"{W}tr"):
                cells = [" ".join(filter(None, (_paragraph_text(p) for p in cell.iter(f"{W}p"))))
                         for cell in row.iter(f"{W}tc")]
                lines.append("｜".join(c.strip() for c in cells))
        elif child.tag == f"{W}sdt":
            content = child.find(f"{W}sdtContent")
            lines += _block_lines(content) if content is not None else []
    return [line.strip() for line in lines if line.strip()]


def _paragraph_text(paragraph) -> str:
    out = []
    for node in paragraph.iter(f"{W}t", f"{W}tab", f"{W}br", f"{W}cr"):
        if node.tag == f"{W}t":
            out.append(node.text or "")
        else:
            out.append("\t" if node.tag == f"{W}tab" else "\n")
    return "".join(out)


def _all_paragraphs(xml: dict, pattern: str) -> str:
    lines = []
    for name in sorted(xml):
        if re.fullmatch(pattern, name):
            lines += [_paragraph_text(p) for p in xml[name].iter(f"{W}p")]
    return "\n".join(line for line in lines if line.strip())


def _texts(root, tag: str) -> str:
    return "\n".join(node.text for node in root.iter(tag) if node.text and node.text.strip())


def _inserted(root) -> str:
    return "\n".join(filter(None, ("".join(t.text or "" for t in ins.iter(f"{W}t"))
                                   for ins in root.iter(f"{W}ins"))))


def _metadata(xml: dict) -> str:
    lines = []
    for name in sorted(xml):
        if name.startswith("docProps/") or name.startswith("customXml/item"):
            for node in xml[name].iter():
                if isinstance(node.tag, str) and node.text and node.text.strip():
                    lines.append(f"{_local(node.tag)}: {node.text.strip()}")
    return "\n".join(lines)


def _core_title(core) -> str | None:
    if core is None:
        return None
    for node in core.iter():
        if isinstance(node.tag, str) and _local(node.tag) == "title" and (node.text or "").strip():
            return node.text.strip()
    return None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


# -- pdf ----------------------------------------------------------------------------------------

def parse_pdf(data: bytes) -> dict:
    import logging

    from pypdf import PdfReader

    logging.disable(logging.WARNING)  # pypdf logs every repaired xref
    reader = PdfReader(io.BytesIO(data), strict=False)
    if reader.is_encrypted:
        raise Unreadable("该 PDF 已加密，请上传未加密的文件")
    if len(reader.pages) > MAX_PDF_PAGES:
        raise Unreadable(f"该 PDF 超过 {MAX_PDF_PAGES} 页")
    pages, notes = [], []
    for page in reader.pages:
        pages.append(page.extract_text() or "")
        notes += _annotations(page)
    printed = [line.strip() for page in pages for line in page.splitlines() if line.strip()]
    text = "\n".join(reflow(printed))
    if not text:
        raise Unreadable("该 PDF 没有文字层（可能是扫描件）：请上传 Word 文件，或先做文字识别")
    meta: Mapping[str, Any] = reader.metadata or {}
    metadata = "\n".join(f"{k.lstrip('/')}: {v}" for k, v in meta.items() if str(v).strip())
    title = str(meta.get("/Title") or "").strip() or None
    return {"text": text, "parts": {"comments": "\n".join(notes), "metadata": metadata},
            "title_hint": title, "html": None}


# A line of a PDF is a line of print: a paragraph wraps over several. A line as wide as the
# widest lines of the document continues on the next one, unless it ends a question or a
# label, or the next starts a heading, an article, an item or a question/answer.
STARTS_BLOCK = re.compile(r"^(?:第[一二三四五六七八九十百零〇\d]{1,6}(?:[编章节条]|部分)|"
                          r"[一二三四五六七八九十]{1,3}、|"
                          r"[（(][一二三四五六七八九十\d]{1,3}[)）]|\d{1,3}\s*[.、．]|0\d\s|问[:：]|答[:：]|"
                          r"[QA][:：]|(?:问题|案例)\s*\d{1,3}\s*[:：]|附件|【)")


def _width(line: str) -> float:
    """Printed width in CJK characters (ASCII letters and digits are about half as wide)."""
    return sum(0.5 if ord(c) < 0x2E80 else 1.0 for c in line)


def _stands_alone(before: str, line: str) -> bool:
    """After a finished sentence, a line without punctuation (a signature, a date, a heading)
    is a paragraph of its own: the tail of a wrapped paragraph has its full stop."""
    return before.endswith(("。", "！", "；")) and not re.search(r"[，。；：！？、,;:]", line)


def reflow(lines: list[str]) -> list[str]:
    """Join the printed lines of a paragraph back into one line (see STARTS_BLOCK)."""
    widths = sorted(_width(line) for line in lines if _width(line) >= 10)
    if len(widths) < 5:
        return lines
    full = widths[int(0.9 * (len(widths) - 1))] - 1.5
    out: list[str] = []
    joining = False
    for line in lines:
        if joining and not STARTS_BLOCK.match(line) and not _stands_alone(out[-1], line):
            out[-1] += line
        else:
            out.append(line)
        joining = _width(line) >= full and not line.endswith(("？", "?", "：", ":"))  # a question, a label
    return out


def _annotations(page) -> list[str]:
    notes = []
    for annot in page.get("/Annots") or []:
        obj = annot.get_object()
        contents = obj.get("/Contents")
        if contents:
            notes.append(str(contents))
    return notes


# -- html, text, markdown -------------------------------------------------------------------------

BLOCK_TAGS = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "section",
              "article", "table", "ul", "ol", "blockquote", "pre", "title", "dt", "dd"}


class _TextOf(html.parser.HTMLParser):
    """Text of (sanitised) HTML, a line per block element; also comments and <meta>."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.out, self.comments, self.meta, self.title, self._in_title = [], [], [], None, False

    def handle_starttag(self, tag, attrs):
        if tag in BLOCK_TAGS:
            self.out.append("\n")
        if tag in ("td", "th"):
            self.out.append("｜")
        if tag == "meta":
            values = dict(attrs)
            if values.get("content"):
                label = values.get("name") or values.get("property") or "meta"
                self.meta.append(f"{label}: {values['content']}")
        self._in_title = tag == "title"

    def handle_endtag(self, tag):
        if tag in BLOCK_TAGS:
            self.out.append("\n")
        self._in_title = False

    def handle_data(self, data):
        if self._in_title:
            self.title = (self.title or "") + data.strip()
        self.out.append(data)

    def handle_comment(self, data):
        if data.strip():
            self.comments.append(data.strip())


def parse_html(data: bytes) -> dict:
    import nh3

    raw = decode_text(data)
    head = _TextOf()
    head.feed(raw)
    clean = nh3.clean(raw)  # scripts, styles, event handlers and javascript: links removed
    body = _TextOf()
    body.feed(clean)
    text = _lines("".join(body.out).replace("｜\n", "\n"))
    return {"text": text, "parts": {"comments": "\n".join(head.comments), "metadata": "\n".join(head.meta)},
            "title_hint": head.title, "html": clean}


def parse_text(data: bytes, markdown: bool) -> dict:
    text = decode_text(data)
    if markdown:
        text = re.sub(r"(?m)^\s{0,3}#{1,6}\s*", "", text)
        text = re.sub(r"(\*\*|__)(.+?)\1", r"\2", text)
    return {"text": _lines(text), "parts": {}, "title_hint": None, "html": None}


def decode_text(data: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise Unreadable("文本既不是 UTF-8 也不是 GB18030 编码")
    if "\x00" in text:
        raise Unreadable("文本文件中含有二进制内容")
    return text


def _lines(text: str) -> str:
    text = re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", "", text.replace("\r\n", "\n").replace("\r", "\n"))
    return "\n".join(line.strip() for line in text.split("\n") if line.strip())


PARSERS = {"docx": parse_docx, "pdf": parse_pdf, "html": parse_html,
           "txt": lambda d: parse_text(d, False), "md": lambda d: parse_text(d, True)}


def main(argv: list[str]) -> int:
    kind = argv[1] if len(argv) > 1 else ""
    if kind not in PARSERS:
        print(json.dumps({"error": f"unknown kind {kind!r}"}))
        return 2
    data = sys.stdin.buffer.read()
    limit_resources()
    try:
        result = PARSERS[kind](data)
    except Unreadable as refused:
        result = {"error": str(refused)}
    except MemoryError:
        result = {"error": "读取该文件需要的内存过多，已拒收"}
    except (zipfile.BadZipFile, zipfile.LargeZipFile) as broken:
        result = {"error": f"该 Word 文件已损坏，或谎报部件大小（{str(broken)[:120]}）"}
    except Exception as broken:  # any parser failure on hostile input is a refusal, not a crash
        result = {"error": f"文件已损坏或与其类型不符"
                           f"({type(broken).__name__}: {str(broken)[:120]})"}
    sys.stdout.write(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
