"""Every link of a reply lands where it points: the demo corpus, questions through the signed
and encrypted callback, then each link's page fetched and its anchor looked for. (A link to
an official Q&A pair once pointed at #c652 while the page's paragraph carried c650.)"""
from __future__ import annotations

import itertools
import json
import re
import urllib.parse

import pytest
from conftest import SHARED

from bot.callback_client import TEST_WECHAT_CONFIG, WeChatSender, text_xml

LINK_RE = re.compile(r"https?://[^\s]+")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from portal.testing import app_config
    from server import create_app, start

    # A low operating point: every question is answered, so that every kind of passage
    # (articles, official Q&A pairs, interpretations, notices) is linked to.
    app = start(create_app({**app_config(tmp_path_factory.mktemp("links")), **TEST_WECHAT_CONFIG,
                            "LOAD_DEMO": True, "BOT_ANSWER_THRESHOLD": 0.01}))
    yield app
    app.extensions["policybot"].db.dispose()


def questions() -> list[str]:
    lines = (SHARED / "eval" / "demo-faq.jsonl").read_text(encoding="utf-8").splitlines()
    lines += (SHARED / "eval" / "stard-train.jsonl").read_text(encoding="utf-8").splitlines()[::60]
    return [json.loads(line)["question"] for line in lines if line.strip()]


def test_every_link_of_every_reply_lands_on_its_anchor(demo):
    sender, client, ids = WeChatSender.from_app(demo), demo.test_client(), itertools.count(1)
    checked, missing = 0, []
    for n, question in enumerate(questions()):
        reply = sender.reply_text(sender.post(client, text_xml(f"o_links{n}", question, msg_id=next(ids))))
        for link in LINK_RE.findall(reply):
            if not link.startswith(demo.config["PUBLIC_URL"]):
                continue  # a web address quoted from a document's own text
            url = urllib.parse.urlsplit(link)
            page = client.get(url.path, query_string=url.query)
            assert page.status_code == 200, link
            anchor = urllib.parse.unquote(url.fragment)
            if anchor and f'id="{anchor}"' not in page.get_data(as_text=True):
                missing.append((question, link))
            checked += 1
    print(f"reply links checked: {checked}, anchors missing: {len(missing)}")
    assert checked > 50 and missing == []
