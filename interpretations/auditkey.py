"""Where the audit key comes from, and where the signed checkpoints go.

The key must not live in the database it protects. In order: POLICYBOT_AUDIT_KEY (at least
32 characters; from the service's environment or a secret store), the file named by
POLICYBOT_AUDIT_KEY_FILE (e.g. on another volume), else `audit_key` in the data directory,
created once (0600) with a warning: whoever can rewrite the database file there can usually
read that file too. Checkpoints go to POLICYBOT_AUDIT_CHECKPOINTS (default
`audit-checkpoints.log` in the data directory; better: a file on another machine's mount, or
one made append-only with `chattr +a`).
"""
from __future__ import annotations

import logging
import pathlib
import secrets

from interpretations.audit import AuditSeal
from policies.keyfiles import key_file

log = logging.getLogger("policybot.audit")
KEY_FILE = "audit_key"
CHECKPOINT_FILE = "audit-checkpoints.log"
MIN_KEY_CHARS = 32


def load_seal(config, data_dir: pathlib.Path) -> AuditSeal:
    checkpoints = pathlib.Path(config.get("AUDIT_CHECKPOINTS") or data_dir / CHECKPOINT_FILE)
    return AuditSeal(_key(config, data_dir), checkpoints)


def _key(config, data_dir: pathlib.Path) -> bytes:
    given = config.get("AUDIT_KEY")
    if given:
        if len(given) < MIN_KEY_CHARS:
            raise ValueError(f"POLICYBOT_AUDIT_KEY needs at least {MIN_KEY_CHARS} characters")
        return given.encode("utf-8")
    if config.get("AUDIT_KEY_FILE"):
        return _read_key(pathlib.Path(config["AUDIT_KEY_FILE"]))
    path = data_dir / KEY_FILE
    key_file(path, lambda: secrets.token_hex(32))
    log.warning("the audit key is kept in %s, beside the database it protects: set "
                "POLICYBOT_AUDIT_KEY or POLICYBOT_AUDIT_KEY_FILE (another volume)", path)
    return _read_key(path)


def _read_key(path: pathlib.Path) -> bytes:
    key = path.read_text(encoding="utf-8").strip()
    if len(key) < MIN_KEY_CHARS:
        raise ValueError(f"the audit key in {path} needs at least {MIN_KEY_CHARS} characters")
    return key.encode("utf-8")
