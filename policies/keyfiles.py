"""Key files an instance makes for itself on first start (SECRET_KEY, the audit key, the staff
setup token): made once, owner-only, and never seen half-written. Several workers of a first
start race to make them: each writes its key whole into a temporary file of its own and links
it into place, which succeeds for one of them; every worker then reads the file that won."""
from __future__ import annotations

import os
import pathlib
import tempfile
from collections.abc import Callable


def key_file(path: pathlib.Path, new_key: Callable[[], str]) -> str:
    """The key in `path` (stripped), made with `new_key()` when the file does not exist yet."""
    if not path.exists():
        _link_new(path, new_key())
    return path.read_text(encoding="utf-8").strip()


def _link_new(path: pathlib.Path, key: str) -> None:
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(key + "\n")
        try:
            os.link(temporary, path)
        except FileExistsError:  # another worker's key is in place first: it is the key
            pass
    finally:
        os.unlink(temporary)
