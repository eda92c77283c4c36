"""Reading and writing the JSONL interchange format (shared/corpus/FORMAT.md)."""
from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import tempfile
from collections.abc import Iterable

from policies.model import Document, InvalidDocument


@dataclasses.dataclass(frozen=True)
class LineError:
    line: int
    doc_id: str | None
    reason: str

    def __str__(self) -> str:
        where = f"line {self.line}" + (f" ({self.doc_id})" if self.doc_id else "")
        return f"{where}: {self.reason}"


def read_documents(path: pathlib.Path | str) -> tuple[list[tuple[int, Document]], list[LineError]]:
    """Every line of the file, validated: (line number, document) pairs and the errors.
    Blank lines are skipped; a line that is not JSON or not a valid document is an error."""
    docs: list[tuple[int, Document]] = []
    errors: list[LineError] = []
    with open(path, encoding="utf-8-sig") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                errors.append(LineError(number, None, f"not valid JSON ({e.msg})"))
                continue
            doc_id = record.get("id") if isinstance(record, dict) else None
            try:
                docs.append((number, Document.from_record(record)))
            except InvalidDocument as e:
                errors += [LineError(number, doc_id, p) for p in e.problems]
    return docs, errors


def write_documents(path: pathlib.Path | str, docs: Iterable[Document]) -> int:
    """Write atomically (temp file + rename): a crash never leaves half an export."""
    path = pathlib.Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent or ".", prefix=".export-", suffix=".jsonl")
    count = 0
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            for doc in docs:
                f.write(json.dumps(doc.to_record(), ensure_ascii=False) + "\n")
                count += 1
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        pathlib.Path(tmp).unlink(missing_ok=True)
        raise
    return count
