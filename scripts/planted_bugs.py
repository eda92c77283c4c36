"""Plant a bug in a copy of the repository and show that the test meant to catch it fails.

    python3 scripts/planted_bugs.py            every planted bug
    python3 scripts/planted_bugs.py 2 6        only some (by number)

Each row: the file and the one-line change made in a throw-away copy (the working tree is not
touched), the test run against it, and whether that test failed as it should. Exit status 1
when a planted bug went unnoticed. Not part of CI: it runs each test once more per bug."""
from __future__ import annotations

import dataclasses
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent


@dataclasses.dataclass(frozen=True)
class Plant:
    what: str
    path: str
    old: str
    new: str
    test: str


PLANTS = [
    Plant(
        "reply XML: ]]> no longer split inside CDATA",
        "bot/xmlsafe.py",
        '.replace("]]>", "]]]]><![CDATA[>")',
        "",
        "tests/test_bot_reply_xml.py::test_reply_rendering_figure_over_a_fixed_sample",
    ),
    Plant(
        "byte cut: a split character becomes U+FFFD",
        "bot/textlimit.py",
        '.decode("utf-8", "ignore")',
        '.decode("utf-8", "replace")',
        "tests/test_bot_answer.py::test_long_answer_stays_within_2000_bytes_and_keeps_links_whole",
    ),
    Plant(
        "keywords: question words kept",
        "insights/keywords.py",
        "word not in STOPWORDS and",
        "",
        "tests/test_insights.py::test_keywords_of_a_framed_question_are_the_subject_words",
    ),
    Plant(
        "menu: related documents numbered from 4",
        "bot/answer.py",
        "RELATED_FIRST_NUMBER = 3",
        "RELATED_FIRST_NUMBER = 4",
        "tests/test_bot_answer.py::test_the_answer_ends_with_one_menu_feedback_first_then_related_documents",
    ),
    Plant(
        "menu: rating line worded otherwise",
        "bot/answer.py",
        'FEEDBACK_LINE = "评价本次答复：回复 1 满意，2 不满意"',
        'FEEDBACK_LINE = "评价本次答复：回复 1 满意"',
        "tests/test_bot_answer.py::test_long_answer_stays_within_2000_bytes_and_keeps_links_whole",
    ),
    Plant(
        "key rotation: replies sealed with the previous key",
        "bot/crypto.py",
        "PrpCrypto(self._keys[0]).encrypt",
        "PrpCrypto(self._keys[-1]).encrypt",
        "tests/test_callback_security.py::test_key_rotation_accepts_the_previous_key_and_replies_with_the_current",
    ),
    Plant(
        "media: a location answered with the image's guidance",
        "bot/replies.py",
        '"location": "收到您的位置。',
        '"location": "收到您的图片。',
        "tests/test_callback_messages.py::test_media_messages_get_polite_guidance",
    ),
    Plant(
        "body cap: 32 KiB instead of 64 KiB",
        "bot/callback.py",
        "MAX_BODY_BYTES = 64 * 1024",
        "MAX_BODY_BYTES = 32 * 1024",
        "tests/test_callback_security.py::test_body_size_sweep_413_above_the_cap",
    ),
    # The quality floors (issue 16): the not-found threshold at 1.0, dense retrieval gone random.
    Plant("answer decision: threshold 1.0 (never sure enough)", "commands/bot.py",
          "    if threshold in (None, \"\"):\n        return model\n",
          "    if threshold in (None, \"\"):\n        return model.with_threshold(1.0)\n",
          "tests/test_quality_floor.py::test_residents_answerable_questions_are_answered_right_through_the_bot"),
    Plant("dense mode: random query vectors", "index/embedders.py",
          "    def embed_queries(self, texts: list[str]) -> np.ndarray:\n"
          "        return self._embed(texts, is_query=True)\n",
          "    def embed_queries(self, texts: list[str]) -> np.ndarray:\n"
          "        return normalise(np.random.default_rng().standard_normal((len(texts), self.dim)))\n",
          "tests/test_quality_floor.py::test_demo_faq_recall_at_5_stays_above_its_floor"),
]


def copy_tree(target: pathlib.Path) -> None:
    """The tracked files as they are in the working tree."""
    names = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for name in names.decode().split("\0"):
        source = ROOT / name
        if name and source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    shared = ROOT.parent / "shared"  # the tests read ../shared (corpus, eval)
    if shared.exists() and not (target.parent / "shared").exists():
        (target.parent / "shared").symlink_to(shared)


def run(plant: Plant) -> bool:
    """True when the test fails on the planted bug (and passed without it)."""
    with tempfile.TemporaryDirectory(prefix="planted-") as tmp:
        copy = pathlib.Path(tmp) / "repo"
        copy.mkdir()
        copy_tree(copy)
        source = copy / plant.path
        text = source.read_text(encoding="utf-8")
        if text.count(plant.old) != 1:
            raise SystemExit(f"{plant.path}: the line to change is gone or not unique: {plant.old!r}")
        source.write_text(text.replace(plant.old, plant.new), encoding="utf-8")
        env = {**os.environ, "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}
        result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
                                 "-p", "no:randomly", plant.test], cwd=copy, env=env,
                                capture_output=True, text=True)
        return result.returncode == 1  # 1: tests failed (not 2-5: collection or usage errors)


def main(argv: list[str]) -> int:
    chosen = [int(a) for a in argv] or list(range(1, len(PLANTS) + 1))
    missed = 0
    for number in chosen:
        plant = PLANTS[number - 1]
        caught = run(plant)
        missed += not caught
        print(f"{number}. {plant.what} ({plant.path}) → {plant.test.split('::')[1]}: "
              f"{'FAILS as it should' if caught else 'STILL PASSES'}", flush=True)
    print(f"planted bugs caught: {len(chosen) - missed}/{len(chosen)}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
