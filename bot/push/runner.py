"""A sender process without the web application (for supervisors, tests and benchmarks):

    python -m bot.push.runner --database-url URL --name sender-1 [--continuous]

WeChat and push settings come from POLICYBOT_* environment variables (the same names as the
app config: POLICYBOT_WECHAT_APPID, _APPSECRET, _API_BASE, _TIMEOUT, POLICYBOT_PUSH_*).
Exit status 0 when it stopped normally; the last line is the report.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import signal

from bot.push.sender import Sender, SenderSettings
from bot.subscribers import Subscribers
from bot.wechat_api import make_client
from policies.db import Database

JSON_KEYS = ("PUSH_TEMPLATE_FIELDS", "PUSH_SUBSCRIBE_FIELDS", "PUSH_RATES")


def config_from_env(environ=os.environ) -> dict:
    config = {k[len("POLICYBOT_"):]: v for k, v in environ.items() if k.startswith("POLICYBOT_")}
    for key in JSON_KEYS:
        if key in config:
            config[key] = json.loads(config[key])
    if environ.get("REDIS_URL"):
        config["REDIS_URL"] = environ["REDIS_URL"]
    return config


def run_sender(database_url: str, config: dict, name: str | None, continuous: bool = False) -> dict:
    """Build a sender from plain values and run it (also the target of a subprocess)."""
    db = Database(database_url)
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    sender = Sender(db, make_client(config, db), Subscribers(db, secret=config.get("OPENID_KEY")),
                    SenderSettings.from_config(config), name=name)
    report = sender.run(once=not continuous, idle_sleep=0.5, should_stop=lambda: bool(stopping))
    db.dispose()
    return dict(report.__dict__)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Run the push sender.")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"), required=False)
    parser.add_argument("--name", default=None)
    parser.add_argument("--continuous", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    report = run_sender(args.database_url, config_from_env(), args.name, args.continuous)
    print(json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
