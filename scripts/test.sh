#!/usr/bin/env bash
# Everything the tests need on a fresh Debian machine, then the tests.
#   bash scripts/test.sh            the whole suite
#   bash scripts/test.sh -k search  pytest arguments pass through
# PostgreSQL and Redis tests use the servers at 127.0.0.1 (POLICYBOT_TEST_PG_URL,
# POLICYBOT_TEST_REDIS_URL); outside CI they are skipped, with the reason, where absent.
set -euo pipefail
cd "$(dirname "$0")/.."

# Browser tests drive Debian's chromium; Chinese needs a CJK font in screenshots.
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
fc-list 2>/dev/null | grep -qi "WenQuanYi Micro Hei" || missing+=(fonts-wqy-microhei)
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
fi

# torch first, pinned: the CPU build (an unpinned torch would pull a CUDA build). pip only
# when the installed packages do not already meet the requirements (scripts/requirements_met.py).
if ! python3 scripts/requirements_met.py torch==2.13.0 -r requirements-dev.txt 2>/dev/null; then
  python3 -m pip install -q --disable-pip-version-check torch==2.13.0
  python3 -m pip install -q --disable-pip-version-check -r requirements-dev.txt
fi

# The static checks first when asked (.ci/run does): ruff, mypy, one Alembic head.
if [ "${RUN_STATIC_CHECKS:-}" = 1 ]; then
  bash scripts/check
fi

exec python3 -m pytest "$@"
