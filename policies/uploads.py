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
        raise UploadRefused("文件是空的")
    if len(data) > MAX_UPLOAD_BYTES:
        raise UploadRefused(f"文件超过 {MAX_UPLOAD_BYTES // (1024 * 1024)} MB")
    suffix = pathlib.PurePath(filename or "").suffix.lower()
    if suffix not in ACCEPTED:
        raise UploadRefused("只接受 .docx、有文字层的 .pdf、.html、.txt、.md 文件")
    claimed, actual = ACCEPTED[suffix], sniff(data)
    if not _agrees(claimed, actual):
        raise UploadRefused(f"文件扩展名是 {suffix}，内容却是{CONTENT_NAMES.get(actual, actual)}")
    if claimed == "docx":
        check_zip(data)
    return claimed


# What `sniff` found, in the drafter's words.
CONTENT_NAMES = {"docx": " Word 文档（.docx）", "pdf": " PDF", "html": "网页（HTML）", "text": "纯文本",
                 "a zip archive": "压缩包", "binary data": "二进制数据",
                 "an old Word/Office file (.doc): save it as .docx":
                     "旧版 Word 文件（.doc），请另存为 .docx 后上传"}


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
        raise UploadRefused(f"该 Word 文件包含 {entries} 个部件（最多 {MAX_ZIP_ENTRIES} 个），"
                            "疑似压缩炸弹，已拒收")
    try:
        infos = zipfile.ZipFile(io.BytesIO(data)).infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as broken:
        raise UploadRefused(f"该 Word 文件已损坏（{broken}）") from None
    if len(infos) != entries:
        raise UploadRefused("该 Word 文件的目录与结尾记录不符，文件已损坏")
    _check_sizes(infos, len(data))
    names = {i.filename for i in infos}
    if "word/document.xml" not in names or "[Content_Types].xml" not in names:
        raise UploadRefused("这是一个压缩包，不是 Word 文档")


def _check_sizes(infos: list[zipfile.ZipInfo], archive_size: int) -> None:
    total = sum(i.file_size for i in infos)
    if total > MAX_UNZIPPED_BYTES:
        raise UploadRefused(f"该 Word 文件解压后达 {total // (1024 * 1024)} MB，已拒收")
    if total > MAX_RATIO * max(archive_size, 1) or any(
            i.file_size > MAX_RATIO * max(i.compress_size, 1) and i.file_size > 1024 * 1024 for i in infos):
        raise UploadRefused("该 Word 文件压缩比超过 100:1，疑似压缩炸弹，已拒收")
    if any(i.flag_bits & 0x1 for i in infos):
        raise UploadRefused("该 Word 文件已加密，请上传未加密的文件")


def _zip_end_record(data: bytes) -> tuple[int, int, int]:
    """(entries, directory size, directory offset) from the end-of-central-directory record."""
    at = data.rfind(b"PK\x05\x06", max(0, len(data) - 65557))
    if at < 0 or at + 22 > len(data):
        raise UploadRefused("该 Word 文件已损坏（没有压缩目录）")
    _, _, _, entries, size, offset = struct.unpack("<HHHHII", data[at + 4:at + 20])
    if entries == 0xFFFF or offset == 0xFFFFFFFF:
        return _zip64_end_record(data, at)
    return entries, size, offset


def _zip64_end_record(data: bytes, end_at: int) -> tuple[int, int, int]:
    """A ZIP64 archive keeps the true counts in a second record, named by a locator."""
    locator = end_at - 20
    if locator < 0 or data[locator:locator + 4] != b"PK\x06\x07":
        raise UploadRefused("该 Word 文件已损坏（ZIP64 目录错误）")
    record = struct.unpack("<Q", data[locator + 8:locator + 16])[0]
    if data[record:record + 4] != b"PK\x06\x06":
        raise UploadRefused("该 Word 文件已损坏（ZIP64 目录错误）")
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
        raise UploadRefused(f"读取文件超过 {timeout:.0f} 秒，已拒收") from None
    try:
        result = json.loads(done.stdout.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise UploadRefused("无法读取该文件（读取程序中止：文件过大或过于复杂）") from None
    if "error" in result:
        raise UploadRefused(result["error"])
    parts = {k: v for k, v in result["parts"].items() if v and v.strip()}
    if not result["text"].strip():
        raise UploadRefused("文件中没有找到文字")
    return Extracted(file_type, result["text"], parts, result.get("title_hint"), result.get("html"))


# -- storage ------------------------------------------------------------------------------------

def new_upload_id() -> str:
    return secrets.token_hex(16)


def store_file(directory: pathlib.Path, upload_id: str, data: bytes) -> pathlib.Path:
    if not re.fullmatch(r"[0-9a-f]{32}", upload_id):
        raise ValueError("upload ids are generated hex strings")
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
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
