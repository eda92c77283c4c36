"""Uploads: real .docx parsing with its hidden parts, and hostile files (zip bomb, 100,000
entries, lying sizes, malformed and looping PDFs, HTML with script, names that lie) refused
with a clear message; the parsing process is bounded in time and memory."""
from __future__ import annotations

import io
import resource
import struct
import time
import zipfile
import zlib

import docx
import pytest
from docx.oxml import OxmlElement
from docx.oxml.ns import qn

from policies import uploads
from policies.reading import suggest_metadata
from policies.uploads import UploadRefused

ID_NUMBER = "11010519491231002X"  # checksum-valid (GB 11643)


def policy_docx(extra_id: str | None = None) -> bytes:
    """A Word policy with a heading, articles, a table, a header, a comment, tracked changes
    and metadata — hidden parts carrying personal data the scan must see."""
    document = docx.Document()
    document.core_properties.title = "关于印发《经开区创业补贴办法》的通知"
    document.core_properties.author = "张三 13912345678"
    document.add_heading("关于印发《经开区创业补贴办法》的通知", 1)
    document.add_paragraph("洪经管办发〔2026〕7号")
    document.add_paragraph("第一章 总则")
    first = document.add_paragraph("第一条 为支持创业，制定本办法。")
    document.add_paragraph(
        "第二条 补贴标准为每人5000元。" + (f"经办人身份证号{extra_id}。" if extra_id else "")
    )
    table = document.add_table(rows=2, cols=2)
    for (r, c), text in {(0, 0): "项目", (0, 1): "金额", (1, 0): "一次性补贴", (1, 1): "5000元"}.items():
        table.cell(r, c).text = text
    document.add_paragraph("本办法自2026年1月1日起施行，有效期三年。")
    document.add_paragraph("南昌经济技术开发区管理委员会办公室")
    document.add_paragraph("2025年12月20日")
    document.sections[0].header.paragraphs[0].text = "内部资料 注意保存"
    document.add_comment(first.runs, text="请核对：联系人手机 13800138000", author="李四")
    _tracked_changes(first)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _tracked_changes(paragraph) -> None:
    deleted = OxmlElement("w:del")
    deleted.set(qn("w:id"), "91")
    deleted.set(qn("w:author"), "李四")
    run = OxmlElement("w:r")
    text = OxmlElement("w:delText")
    text.text = "原联系人手机 13700001111 已删除"
    run.append(text)
    deleted.append(run)
    inserted = OxmlElement("w:ins")
    inserted.set(qn("w:id"), "92")
    inserted.set(qn("w:author"), "李四")
    run = OxmlElement("w:r")
    text = OxmlElement("w:t")
    text.text = "（新增：按年度核定）"
    run.append(text)
    inserted.append(run)
    paragraph._p.append(deleted)
    paragraph._p.append(inserted)


def zip_bytes(members: dict[str, bytes], method=zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", method) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


def many_entries_zip(count: int) -> bytes:
    """A Word-looking zip of `count` members, written directly as zipfile would (ZIP64 end
    records past 65,535 entries), because zipfile itself takes seconds for 100,000."""
    names = [b"word/document.xml"] + [f"word/media/p{i}.xml".encode() for i in range(count - 1)]
    local, central, offset = [], [], 0
    for name in names:
        header = struct.pack("<4s5H3I2H", b"PK\x03\x04", 20, 0, 0, 0, 0, 0, 0, 0, len(name), 0) + name
        central.append(struct.pack("<4s6H3I5H2I", b"PK\x01\x02", 45, 20, 0, 0, 0, 0, 0, 0, 0,
                                   len(name), 0, 0, 0, 0, 0, offset) + name)
        local.append(header)
        offset += len(header)
    directory = b"".join(central)
    zip64_at = offset + len(directory)
    zip64 = struct.pack("<4sQ2H2I4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, count, count, len(directory), offset)
    locator = struct.pack("<4sIQI", b"PK\x06\x07", 0, zip64_at, 1)
    end = struct.pack("<4s4H2IH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    return b"".join(local) + directory + zip64 + locator + end


def _refusal(name: str, data: bytes) -> tuple[str, float, int]:
    """The refusal message, the seconds it took, the children's peak RSS (KiB)."""
    start = time.monotonic()
    with pytest.raises(UploadRefused) as refused:
        uploads.extract(uploads.check_upload(name, data), data)
    return (
        str(refused.value),
        time.monotonic() - start,
        resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
    )


# -- real documents ------------------------------------------------------------------------------

def test_docx_text_keeps_structure_and_hidden_parts_are_extracted():
    data = policy_docx()
    extracted = uploads.extract(uploads.check_upload("经开区创业补贴办法.docx", data), data)
    lines = extracted.text.splitlines()
    assert lines[:4] == ["关于印发《经开区创业补贴办法》的通知", "洪经管办发〔2026〕7号", "第一章 总则",
                         "第一条 为支持创业，制定本办法。（新增：按年度核定）"]
    assert "一次性补贴｜5000元" in lines
    assert "原联系人" not in extracted.text  # deleted text is not body text ...
    assert "13700001111" in extracted.parts["tracked deletions"]  # ... but it is scanned
    assert "13800138000" in extracted.parts["comments"]
    assert "内部资料" in extracted.parts["headers"]
    assert "13912345678" in extracted.parts["metadata"]


def test_suggested_metadata_for_the_drafter():
    data = policy_docx()
    extracted = uploads.extract("docx", data)
    suggested = suggest_metadata(extracted.text, extracted.title_hint)
    reasons = suggested.pop("reasons")
    assert suggested == {
        "title": "关于印发《经开区创业补贴办法》的通知",
        "doc_number": "洪经管办发〔2026〕7号",
        "issuing_body": "南昌经济技术开发区管理委员会办公室",
        "publish_date": "2025-12-20",
        "valid_from": "2026-01-01",
        "valid_until": "2028-12-31",
        "kind": "policy",
    }
    assert reasons["publish_date"] == "落款「南昌经济技术开发区管理委员会办公室」下的日期 2025年12月20日"
    assert reasons["valid_until"].startswith("「本办法自2026年1月1日起施行，有效期三年」")


def test_pdf_with_a_text_layer():
    data = _simple_pdf("Subsidy rules 2026: article one.")
    extracted = uploads.extract(uploads.check_upload("补贴办法.pdf", data), data)
    assert "Subsidy rules 2026" in extracted.text


def test_html_script_removed_and_comments_scanned():
    page = (
        "<html><head><title>关于创业补贴的解读</title><script>alert('x')</script>"
        "<meta name='author' content='王五 13700001111'></head><body><h1>政策解读</h1>"
        '<p onclick="alert(1)">一、政策背景</p><p>为支持创业。<a href="javascript:alert(2)">详情</a></p>'
        "<!-- 内部：联系人 13912345678 --></body></html>"
    ).encode()
    extracted = uploads.extract(uploads.check_upload("解读.html", page), page)
    assert "alert" not in extracted.text and "alert" not in extracted.html
    assert "<script" not in extracted.html and "javascript:" not in extracted.html
    assert extracted.text.splitlines()[:3] == ["关于创业补贴的解读", "政策解读", "一、政策背景"]
    assert "13912345678" in extracted.parts["comments"] and "13700001111" in extracted.parts["metadata"]


def test_text_and_markdown_in_utf8_and_gb18030():
    text = "# 关于补贴的通知\n\n一、总则\n**第一条** 内容。\n"
    assert uploads.extract("md", text.encode()).text == "关于补贴的通知\n一、总则\n第一条 内容。"
    assert uploads.extract("txt", "一、总则\n".encode("gb18030")).text == "一、总则"


# -- hostile files -------------------------------------------------------------------------------

def test_zip_bomb_refused_before_inflating():
    bomb = zip_bytes({"[Content_Types].xml": b"<Types/>", "word/document.xml": b" " * (60 * 2 ** 20)})
    start = time.monotonic()
    with pytest.raises(UploadRefused, match="压缩炸弹"):
        uploads.check_upload("补贴.docx", bomb)
    print(f"\nzip bomb ({len(bomb)} bytes → 60 MiB): refused in {time.monotonic() - start:.3f} s, "
          "nothing inflated")


def test_hundred_thousand_entries_refused_from_the_end_record():
    data = many_entries_zip(100_000)
    start = time.monotonic()
    with pytest.raises(UploadRefused, match="100000 个部件"):
        uploads.check_upload("补贴.docx", data)
    print(f"\n100,000-entry docx ({len(data) // 1024} KiB): refused in {time.monotonic() - start:.4f} s")


def test_lying_sizes_refused_by_the_worker():
    honest = policy_docx()
    lying = _shrink_declared_size(honest, b"word/document.xml", by=100)
    message, seconds, rss = _refusal("补贴.docx", lying)
    assert "大小" in message
    print(f"\nlying sizes: refused ({message}) in {seconds:.2f} s; worker peak RSS {rss // 1024} MiB")


def test_malformed_and_looping_pdfs_refused():
    broken = b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 9 0 R >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF"
    loop = _looping_pdf()
    for name, data in (("坏.pdf", broken), ("循环.pdf", loop), ("空.pdf", b"%PDF-1.4\n%%EOF")):
        message, seconds, rss = _refusal(name, data)
        assert seconds < uploads.PARSE_TIMEOUT + 5
        print(f"\n{name}: refused ({message}) in {seconds:.2f} s; worker peak RSS {rss // 1024} MiB")


def test_type_is_decided_by_content_not_name():
    cases = {"政策.docx": b"%PDF-1.4 ...", "政策.pdf": policy_docx(), "政策.txt": b"MZ\x90\x00\x03\x00\x00",
             "政策.exe": b"hello", "政策.doc": b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100,
             "空.txt": b"", "大.txt": b"a" * (uploads.MAX_UPLOAD_BYTES + 1)}
    for name, data in cases.items():
        with pytest.raises(UploadRefused) as refused:
            uploads.check_upload(name, data)
        assert str(refused.value), name


def test_worker_timeout_is_a_refusal():
    with pytest.raises(UploadRefused, match="超过"):
        uploads.extract("pdf", _looping_pdf(), timeout=0.05)


def test_stored_under_generated_ids(tmp_path):
    upload_id = uploads.new_upload_id()
    path = uploads.store_file(tmp_path, upload_id, b"x")
    assert path.name == upload_id and len(upload_id) == 32
    with pytest.raises(ValueError):
        uploads.store_file(tmp_path, "../政策解读.docx", b"x")
    assert uploads.display_name("C:\\文件\\政策解读.docx") == "政策解读.docx"


# -- helpers --------------------------------------------------------------------------------------

def _shrink_declared_size(data: bytes, name: bytes, by: int) -> bytes:
    """Make the central directory and the local header claim `by` bytes less than the truth."""
    buffer = bytearray(data)
    at = buffer.find(b"PK\x01\x02" + b"")
    while at >= 0:
        name_len = struct.unpack("<H", buffer[at + 28:at + 30])[0]
        if bytes(buffer[at + 46:at + 46 + name_len]) == name:
            size = struct.unpack("<I", buffer[at + 24:at + 28])[0]
            buffer[at + 24:at + 28] = struct.pack("<I", size - by)
            local = struct.unpack("<I", buffer[at + 42:at + 46])[0]
            buffer[local + 22:local + 26] = struct.pack("<I", size - by)
        at = buffer.find(b"PK\x01\x02", at + 4)
    return bytes(buffer)


def _pdf(objects: list[bytes]) -> bytes:
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def _simple_pdf(text: str) -> bytes:
    stream = b"BT /F1 12 Tf 72 720 Td (" + text.encode("latin-1") + b") Tj ET"
    return _pdf([b"<< /Type /Catalog /Pages 2 0 R >>",
                 b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
                 b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
                 b"/Resources << /Font << /F1 5 0 R >> >> >>",
                 b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
                 b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"])


def _looping_pdf() -> bytes:
    """A page tree whose node is its own kid, and a content stream that includes itself."""
    return _pdf([b"<< /Type /Catalog /Pages 2 0 R >>",
                 b"<< /Type /Pages /Kids [2 0 R 3 0 R] /Count 2 >>",
                 b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents [4 0 R 4 0 R] "
                 b"/Resources << /XObject << /X 5 0 R >> >> >>",
                 b"<< /Length 8 >>\nstream\n/X Do   \nendstream",
                 b"<< /Type /XObject /Subtype /Form /BBox [0 0 1 1] /Resources << /XObject << /X 5 0 R >> >> "
                 b"/Length 5 >>\nstream\n/X Do\nendstream"])


def test_zlib_is_what_a_bomb_uses():
    # sanity for the bomb above: deflate really compresses spaces more than 100:1
    assert len(zlib.compress(b" " * 2 ** 20)) * 100 < 2 ** 20
