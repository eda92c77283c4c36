"""What an instance writes is readable by its owner only: the data directory 0700, the
database files (main, -wal, -shm, the bot state's) 0600, uploads and index 0700. The database
holds password hashes, the question log and, without POLICYBOT_OPENID_KEY, the openid key."""
from __future__ import annotations

import io
import os
import stat

from portal.testing import app_config, csrf, login_as, make_staff


def _mode(path) -> str:
    return oct(stat.S_IMODE(os.stat(path).st_mode))


def test_instance_files_are_private(tmp_path):
    from server import create_app, start

    data_dir = tmp_path / "instance"
    app = start(create_app(app_config(data_dir)))
    try:
        user = make_staff(app, "zhangfm", "drafter", "区人社局")
        client = app.test_client()
        login_as(client, app, user)
        upload = (io.BytesIO("关于测试的通知\n一、总则\n".encode()), "测试.txt")
        client.post("/staff/uploads", data={"csrf_token": csrf(client), "file": upload})
        app.extensions["policybot"].bot_state.set("k", "v", 60)
        files = sorted(p for p in data_dir.iterdir() if p.is_file())
        modes = {p.name: _mode(p) for p in files}
        dirs = {p.name: _mode(p) for p in [data_dir, *(d for d in data_dir.iterdir() if d.is_dir())]}
    finally:
        app.extensions["policybot"].db.dispose()
    print(f"\nfile modes: {modes}\ndirectory modes: {dirs}")
    assert any(name.endswith("-wal") for name in modes) and "policybot.sqlite3" in modes
    assert {name: mode for name, mode in modes.items() if mode != "0o600"} == {}
    assert {name: mode for name, mode in dirs.items() if mode != "0o700"} == {}


def test_an_existing_world_readable_database_is_tightened(tmp_path):
    from server import create_app, start

    data_dir = tmp_path / "old"
    app = start(create_app(app_config(data_dir)))
    app.extensions["policybot"].db.dispose()
    for path in [data_dir / "policybot.sqlite3", *data_dir.glob("policybot.sqlite3-*")]:
        os.chmod(path, 0o644)
    os.chmod(data_dir, 0o755)
    app = start(create_app(app_config(data_dir)))
    app.extensions["policybot"].db.dispose()
    assert _mode(data_dir) == "0o700"
    assert {p.name: _mode(p) for p in data_dir.glob("policybot.sqlite3*") if _mode(p) != "0o600"} == {}
