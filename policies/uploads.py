"""Uploads of policy and interpretation files: checked, stored, parsed, and read for metadata.

The order matters (SECURITY.md item 12): the size is capped; the type is decided by the
content, and must agree with the name; a Word file's zip directory is checked (entry count
from the end record before the directory is even parsed, declared sizes, compression ratio)
before one byte is inflated; parsing runs in a fresh, resource-limited interpreter
(policies/upload_worker.py) with a timeout. Files are stored under generated ids: the
original, often Chinese, name is metadata only.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import io
import json
import os
import pathlib
import re
import secrets
import struct
import subprocess
import sys
import zipfile

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
MAX_ZIP_ENTRIES = 2000  # a real .docx has 10–60 parts
MAX_UNZIPPED_BYTES = 100 * 1024 * 1024
MAX_RATIO = 100  # a zip bomb inflates 1000:1 and more; Word's XML about 5–30:1
PARSE_TIMEOUT = 30
ACCEPTED = {".docx": "docx", ".pdf": "pdf", ".html": "html", ".htm": "html", ".txt": "txt", ".md": "md"}
WORKER = pathlib.Path(__file__).resolve().parent / "upload_worker.py"


class UploadRefused(ValueError):
    """The file is not accepted; the message tells the drafter why, in plain words."""


@dataclasses.dataclass(frozen=True)
class Extracted:
    file_type: str
    text: str
    parts: dict  # hidden parts (comments, tracked changes, headers, metadata ...)
    title_hint: str | None
    html: str | None


def check_upload(filename: str, data: bytes) -> str:
    """The file's type, decided by its content; UploadRefused when it is not acceptable."""
    if not data:
        raise UploadRefused("the file is empty")
    if len(data) > MAX_UPLOAD_BYTES:
        raise UploadRefused(f"the file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB")
    suffix = pathlib.PurePath(filename or "").suffix.lower()
    if suffix not in ACCEPTED:
        raise UploadRefused("accepted files: .docx, .pdf (with a text layer), .html, .txt, .md")
    claimed, actual = ACCEPTED[suffix], sniff(data)
    if not _agrees(claimed, actual):
        raise UploadRefused(f"the file is named {suffix} but its content is {actual}")
    if claimed == "docx":
        check_zip(data)
    return claimed


def sniff(data: bytes) -> str:
    head = data[:4096]
    if head.startswith(b"PK\x03\x04"):
        return "docx" if b"word/document.xml" in data else "a zip archive"
    if b"%PDF-" in head[:1024]:
        return "pdf"
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        return "an old Word/Office file (.doc): save it as .docx"
    if b"\x00" in head:
        return "binary data"
    return "html" if re.search(rb"(?i)<(!doctype html|html|head|body|p|div|h[1-6]|table)\b", head) else "text"


def _agrees(claimed: str, actual: str) -> bool:
    if claimed in ("txt", "md"):
        return actual in ("text", "html")  # shown as text, never rendered
    if claimed == "html":
        return actual in ("html", "text")
    return claimed == actual


def check_zip(data: bytes) -> None:
    """Refuse zip bombs, huge entry counts and implausible sizes before inflating anything."""
    entries, _, _ = _zip_end_record(data)
    if entries > MAX_ZIP_ENTRIES:
        raise UploadRefused(f"the Word file holds {entries} parts (at most {MAX_ZIP_ENTRIES}): "
                            "refused as a possible zip bomb")
    try:
        infos = zipfile.ZipFile(io.BytesIO(data)).infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as broken:
        raise UploadRefused(f"the Word file is damaged ({broken})") from None
    if len(infos) != entries:
        raise UploadRefused("the Word file's directory does not match its end record")
    _check_sizes(infos, len(data))
    names = {i.filename for i in infos}
    if "word/document.xml" not in names or "[Content_Types].xml" not in names:
        raise UploadRefused("this is a zip file but not a Word document")


def _check_sizes(infos: list[zipfile.ZipInfo], archive_size: int) -> None:
    total = sum(i.file_size for i in infos)
    if total > MAX_UNZIPPED_BYTES:
        raise UploadRefused(f"the Word file would inflate to {total // (1024 * 1024)} MB: refused")
    if total > MAX_RATIO * max(archive_size, 1) or any(
            i.file_size > MAX_RATIO * max(i.compress_size, 1) and i.file_size > 1024 * 1024 for i in infos):
        raise UploadRefused("the Word file is compressed more than 100:1: refused as a zip bomb")
    if any(i.flag_bits & 0x1 for i in infos):
        raise UploadRefused("the Word file is encrypted")


def _zip_end_record(data: bytes) -> tuple[int, int, int]:
    """(entries, directory size, directory offset) from the end-of-central-directory record."""
    at = data.rfind(b"PK\x05\x06", max(0, len(data) - 65557))
    if at < 0 or at + 22 > len(data):
        raise UploadRefused("the Word file is damaged (no zip directory)")
    _, _, _, entries, size, offset = struct.unpack("<HHHHII", data[at + 4:at + 20])
    if entries == 0xFFFF or offset == 0xFFFFFFFF:
        return _zip64_end_record(data, at)
    return entries, size, offset


def _zip64_end_record(data: bytes, end_at: int) -> tuple[int, int, int]:
    """A ZIP64 archive keeps the true counts in a second record, named by a locator."""
    locator = end_at - 20
    if locator < 0 or data[locator:locator + 4] != b"PK\x06\x07":
        raise UploadRefused("the Word file is damaged (bad ZIP64 directory)")
    record = struct.unpack("<Q", data[locator + 8:locator + 16])[0]
    if data[record:record + 4] != b"PK\x06\x06":
        raise UploadRefused("the Word file is damaged (bad ZIP64 directory)")
    entries, size, offset = struct.unpack("<QQQ", data[record + 32:record + 56])
    return entries, size, offset


# -- parsing in a subprocess ------------------------------------------------------------------

def extract(file_type: str, data: bytes, timeout: float = PARSE_TIMEOUT) -> Extracted:
    """Parse in a fresh interpreter (spawned, never forked from a process that embedded)."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "OMP_NUM_THREADS": "1", "LANG": "C.UTF-8"}
    try:
        done = subprocess.run([sys.executable, "-I", "-B", str(WORKER), file_type], input=data,
                              capture_output=True, timeout=timeout, env=env, check=False)
    except subprocess.TimeoutExpired:
        raise UploadRefused(f"reading the file took longer than {timeout:.0f} s: refused") from None
    try:
        result = json.loads(done.stdout.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise UploadRefused("the file could not be read (the reader stopped: too large or "
                            "too complex)") from None
    if "error" in result:
        raise UploadRefused(result["error"])
    parts = {k: v for k, v in result["parts"].items() if v and v.strip()}
    if not result["text"].strip():
        raise UploadRefused("no text found in the file")
    return Extracted(file_type, result["text"], parts, result.get("title_hint"), result.get("html"))


# -- storage ------------------------------------------------------------------------------------

def new_upload_id() -> str:
    return secrets.token_hex(16)


def store_file(directory: pathlib.Path, upload_id: str, data: bytes) -> pathlib.Path:
    if not re.fullmatch(r"[0-9a-f]{32}", upload_id):
        raise ValueError("upload ids are generated hex strings")
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / upload_id
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return path


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def display_name(filename: str) -> str:
    """The original name as metadata: no path, no control characters, bounded length."""
    name = re.split(r"[\\/]", filename or "")[-1]
    name = re.sub(r"[\x00-\x1f\x7f]", "", name).strip()
    return name[:200] or "未命名"


# -- suggested metadata -------------------------------------------------------------------------

DOC_NUMBER = re.compile(r"[\u4e00-\u9fa5]{1,15}[〔\[［(（【]\s*(\d{4})\s*[〕\]］)）】]\s*\d{1,5}\s*号")
CN_DATE = re.compile(r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日")
BODY_SUFFIX = re.compile(r"^[\u4e00-\u9fa5（）()]{3,40}"
                         r"(人民政府|管理委员会|委员会|办公室|办公厅|局|厅|部|中心|院)$")
TITLE_WORDS = ("关于", "通知", "办法", "意见", "规定", "方案", "细则", "条例", "解读", "问答", "公告",
               "通告", "指南")
VALID_YEARS = re.compile(r"有效期\s*([一二三四五六七八九十\d]{1,3})\s*年")
VALID_UNTIL = re.compile(r"有效期至\s*(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日")
EFFECTIVE = re.compile(r"自\s*(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日\s*起\s*(?:施行|实施|执行|生效)")
CN_NUMBERS = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9,
              "十": 10}


def suggest_metadata(text: str, title_hint: str | None = None) -> dict:
    """Guesses for the drafter to confirm: title, 文号, issuing body, dates, validity, kind."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    title = _title(lines, title_hint)
    number = DOC_NUMBER.search(text[:3000])
    dates = [_date(m) for m in CN_DATE.finditer(text)]
    dates = [d for d in dates if d]
    valid_from = _first_date(EFFECTIVE, text)
    return {
        "title": title,
        "doc_number": _normal_number(number.group(0)) if number else None,
        "issuing_body": _issuing_body(lines),
        "publish_date": _iso(dates[-1] if dates else None),
        "valid_from": _iso(valid_from),
        "valid_until": _iso(_valid_until(text, valid_from or (dates[-1] if dates else None))),
        "kind": "interpretation" if title and re.search("解读|问答|答记者问|图解", title) else "policy",
    }


def _title(lines: list[str], hint: str | None) -> str | None:
    if hint and len(hint) >= 4:
        return hint
    for index, line in enumerate(lines[:8]):
        if any(word in line for word in TITLE_WORDS) and not DOC_NUMBER.fullmatch(line) and len(line) <= 80:
            follow = lines[index + 1] if index + 1 < len(lines) else ""
            if follow.endswith(("通知", "办法", "意见", "解读")) and len(line + follow) <= 80:
                return line + follow  # a title wrapped over two lines
            return line
    return lines[0][:80] if lines else None


def _issuing_body(lines: list[str]) -> str | None:
    for line in reversed(lines[-12:]):
        if BODY_SUFFIX.match(line):
            return line
    for line in lines[:6]:
        if BODY_SUFFIX.match(line):
            return line
    return None


def _normal_number(number: str) -> str:
    number = re.sub(r"\s+", "", number)
    return re.sub(r"[\[［(（【](\d{4})[\]］)）】]", r"〔\1〕", number)


def _date(match: re.Match) -> dt.date | None:
    try:
        return dt.date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        return None


def _first_date(pattern: re.Pattern, text: str) -> dt.date | None:
    match = pattern.search(text)
    return _date(match) if match else None


def _valid_until(text: str, start: dt.date | None) -> dt.date | None:
    explicit = _first_date(VALID_UNTIL, text)
    if explicit:
        return explicit
    years = VALID_YEARS.search(text)
    if not (years and start):
        return None
    count = _cn_int(years.group(1))
    try:
        return start.replace(year=start.year + count) - dt.timedelta(days=1) if count else None
    except ValueError:  # 29 February
        return start.replace(year=start.year + count, day=28)


def _cn_int(value: str) -> int:
    if value.isdigit():
        return int(value)
    if value.startswith("十"):
        return 10 + CN_NUMBERS.get(value[1:], 0)
    if "十" in value:
        tens, _, units = value.partition("十")
        return CN_NUMBERS.get(tens, 0) * 10 + CN_NUMBERS.get(units, 0)
    return CN_NUMBERS.get(value, 0)


def _iso(day: dt.date | None) -> str | None:
    return day.isoformat() if day else None
