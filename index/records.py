"""What the index keeps about a document (for filters and citations) and about a chunk.
Plain records that round-trip through JSON, so an index on disk holds everything it needs."""
from __future__ import annotations

import dataclasses

from index.chunking import Chunk
from policies.model import Document


@dataclasses.dataclass(frozen=True)
class DocMeta:
    id: str
    title: str
    kind: str
    doc_number: str | None
    doc_type: str | None
    interprets: str | None
    status: str
    valid_from: str | None
    valid_until: str | None
    issuing_body: str | None
    publish_date: str | None
    region: str | None
    topics: tuple[str, ...]
    audience: tuple[str, ...]
    content_hash: str

    @classmethod
    def of(cls, doc: Document) -> DocMeta:
        iso = lambda d: d.isoformat() if d else None
        return cls(doc.id, doc.title, doc.kind, doc.doc_number, doc.doc_type, doc.interprets,
                   doc.status, iso(doc.valid_from), iso(doc.valid_until), doc.issuing_body,
                   iso(doc.publish_date), doc.region, tuple(doc.topics), tuple(doc.audience),
                   doc.content_hash())

    @classmethod
    def from_json(cls, record: dict) -> DocMeta:
        return cls(**{**record, "topics": tuple(record["topics"]),
                      "audience": tuple(record["audience"])})

    def to_json(self) -> dict:
        return {**dataclasses.asdict(self), "topics": list(self.topics),
                "audience": list(self.audience)}


@dataclasses.dataclass(frozen=True)
class ChunkRecord:
    row: int                    # stable integer id (FAISS id)
    chunk: Chunk
    tokens: tuple[str, ...]     # BM25 tokens of `indexed_text`
    text_hash: str              # sha256 of the passage the embedder saw

    def to_json(self) -> dict:
        record = dataclasses.asdict(self.chunk)
        record["heading_path"] = list(self.chunk.heading_path)
        return {"row": self.row, "chunk": record, "tokens": list(self.tokens),
                "text_hash": self.text_hash}

    @classmethod
    def from_json(cls, record: dict) -> ChunkRecord:
        chunk = dict(record["chunk"])
        chunk["heading_path"] = tuple(chunk["heading_path"])
        return cls(record["row"], Chunk(**chunk), tuple(record["tokens"]), record["text_hash"])


def passage_text(meta: DocMeta, chunk: Chunk) -> str:
    """What the embedder sees: the chunk under its document's short title, so a passage like
    第五条 carries the context a question refers to. (Headings are left out: they add tokens,
    and passage embedding costs ~4 ms a token here; the heading line is in the text anyway.)"""
    return f"{short_title(meta.title)}\n{chunk.text}"


def sparse_text(meta: DocMeta, chunk: Chunk) -> str:
    """What BM25 sees: title, heading path and text."""
    head = " ".join(chunk.heading_path)
    return f"{meta.title}\n{head}\n{chunk.text}" if head else f"{meta.title}\n{chunk.text}"


def short_title(title: str) -> str:
    return title.removeprefix("中华人民共和国")
