"""Conversations of the staff simulator are not the public's.

The simulator (bot/web/simulator.py) sends its messages through /wechat, signed like WeChat's,
from openids of its own form: `osim_` and 16 hex digits (21 characters; WeChat's are 28). The
subscribers and the question log flag them, so that push never targets them and the public's
statistics leave them out unless asked. Only a request signed with our Token reaches the bot,
so no outsider can make a real conversation look simulated.
"""
from __future__ import annotations

import re

PREFIX = "osim_"
SIMULATOR_OPENID = re.compile(r"osim_[0-9a-f]{16}")


def is_simulated(openid: str | None) -> bool:
    return openid is not None and SIMULATOR_OPENID.fullmatch(openid) is not None
