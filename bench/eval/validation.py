"""Generate the validation set: a second evaluation set that retrieval is never tuned on.

Run ``python -m bench.eval.validation`` from the repository root; it writes
``bench/eval/data/validation.json`` in the layout ``generate.py`` documents. It shares no code
path with that generator: other topics, other speakers, other small talk (``_val_topics.py``),
and questions written from what a fact means rather than from its words, so a question shares
few content words with its evidence (``content_overlap`` measures it; the tests hold it low).

Each conversation gives each speaker three topics. A topic is told in two sessions, weeks apart,
and asked about four ways: *single-hop* (one fact, named another way), *temporal* (the day a
relative phrase such as "last Tuesday" resolves to), *multi-hop* (both facts, joined by a name or
a thing they share) and *open-domain* (an inference or a category the fact never names).
Deterministic: a seeded ``random.Random``, no network, no model.
"""

from __future__ import annotations

import argparse
import json
import random
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.eval._val_topics import (
    CLOSERS,
    OPENERS,
    PEOPLE,
    REACTIONS,
    SMALL_TALK,
    SPEAKERS,
    TOPICS,
    Topic,
)
from bench.eval.dataset import Conversation, Dataset, Question, Session, Turn

DEFAULT_SEED = 20
DEFAULT_OUT = Path(__file__).parent / "data" / "validation.json"
CONVERSATIONS = 6
SESSIONS = 16
TOPICS_PER_SPEAKER = 3
SMALL_TALK_PER_SESSION = (5, 8)
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_WORD = re.compile(r"[a-z]+")
# Words that carry no topic: a question sharing only these with its evidence shares nothing.
_STOP = frozenset(
    str.split(
        "the a an and or of to in on at for with by from is are was were be been has have had do does "
        "did what which who whom whose when where how why that this these those it its as into about "
        "after before up out s i me my we our you your he she they them his her their there than then "
        "so now any all some one new got get will would could can just"
    )
)

_Said = tuple[str, str, str | None]  # speaker, text, evidence tag


def generate(seed: int = DEFAULT_SEED, conversations: int = CONVERSATIONS) -> Dataset:
    """The whole validation set for ``seed``."""
    rng = random.Random(seed)
    return {
        "version": 1,
        "conversations": [_conversation(rng, f"v{i + 1}") for i in range(conversations)],
    }


def _conversation(rng: random.Random, cid: str) -> Conversation:
    speakers = rng.sample(SPEAKERS, 2)
    dates = _dates(rng)
    topics = rng.sample(TOPICS, 2 * TOPICS_PER_SPEAKER)
    plan: list[list[_Said]] = [[] for _ in dates]
    questions: list[tuple[str, str, str, tuple[str, ...]]] = []
    for number, topic in enumerate(topics):
        subject = speakers[number % 2]
        questions += _tell(rng, topic, subject, speakers, dates, plan, f"k{number}")
    sessions, ids = _sessions(rng, cid, speakers, dates, plan)
    return {
        "id": cid,
        "speakers": list(speakers),
        "sessions": sessions,
        "questions": [
            Question(
                id=f"{cid}:q{n + 1}",
                question=q,
                answer=a,
                kind=kind,
                evidence=[ids[tag] for tag in tags],
            )
            for n, (kind, q, a, tags) in enumerate(questions)
        ],
    }


def _dates(rng: random.Random) -> list[datetime]:
    day = datetime(2024, rng.randint(1, 4), rng.randint(1, 28), rng.randint(8, 21), 5, tzinfo=UTC)
    dates = []
    for _ in range(SESSIONS):
        dates.append(day)
        day += timedelta(days=rng.randint(4, 16), minutes=rng.randint(-300, 300))
    return dates


def _tell(
    rng: random.Random,
    topic: Topic,
    subject: str,
    speakers: Sequence[str],
    dates: Sequence[datetime],
    plan: list[list[_Said]],
    tag: str,
) -> list[tuple[str, str, str, tuple[str, ...]]]:
    """Place a topic's two facts in two sessions and write its questions."""
    first = rng.randrange(0, SESSIONS // 2)
    then = rng.randrange(first + 2, SESSIONS)
    when_session = then if "{when}" in topic.then else first
    phrase, day = _relative(rng, dates[when_session])
    fills = {key: rng.choice(values) for key, values in topic.fills.items()}
    fills |= {"person": rng.choice(PEOPLE), "when": phrase, "date": day, "s": subject}
    partner = speakers[1] if subject == speakers[0] else speakers[0]
    for session, key, text in ((first, "first", topic.first), (then, "then", topic.then)):
        plan[session].append((subject, text.format(**fills), f"{tag}/{key}"))
        plan[session].append((partner, rng.choice(REACTIONS), None))
    for mention in topic.mentions:
        plan[rng.randrange(first + 1, SESSIONS)].append((subject, mention, None))
    return [
        (ask.kind, ask.question.format(**fills), ask.answer.format(**fills),
         tuple(f"{tag}/{fact}" for fact in ask.facts))
        for ask in topic.asks
    ]  # fmt: skip


def _relative(rng: random.Random, said_on: datetime) -> tuple[str, str]:
    """A phrase for a recent day as said in a session on ``said_on``, and that day's date."""
    back = rng.choice((1, 2, 3, 4, 5, 6))
    day = said_on - timedelta(days=back)
    phrase = {1: "yesterday", 2: "the day before yesterday"}.get(
        back, f"last {_WEEKDAYS[day.weekday()]}"
    )
    return phrase, f"{day.day} {day:%B %Y}"


def _sessions(
    rng: random.Random,
    cid: str,
    speakers: Sequence[str],
    dates: Sequence[datetime],
    plan: list[list[_Said]],
) -> tuple[list[Session], dict[str, str]]:
    sessions: list[Session] = []
    ids: dict[str, str] = {}
    talk = list(SMALL_TALK)
    for index, (date, planned) in enumerate(zip(dates, plan, strict=True)):
        opener, closer = rng.choice(OPENERS), rng.choice(CLOSERS)
        rng.shuffle(talk)
        chat = talk[: rng.randint(*SMALL_TALK_PER_SESSION)]
        said = _interleave(rng, speakers, planned, chat)
        said = _pair(speakers, opener) + said + _pair(speakers[::-1], closer)
        sid = f"s{index + 1}"
        turns: list[Turn] = []
        for number, (speaker, text, tag) in enumerate(said, start=1):
            turn_id = f"{cid}:{sid}:t{number}"
            turns.append({"id": turn_id, "speaker": speaker, "text": text})
            if tag:
                ids[tag] = turn_id
        sessions.append({"id": sid, "date": date.strftime("%Y-%m-%dT%H:%M:%SZ"), "turns": turns})
    return sessions, ids


def _pair(speakers: Sequence[str], lines: tuple[str, str]) -> list[_Said]:
    return [(speakers[0], lines[0], None), (speakers[1], lines[1], None)]


def _interleave(
    rng: random.Random,
    speakers: Sequence[str],
    planned: list[_Said],
    chat: list[tuple[str, str]],
) -> list[_Said]:
    """The session's planned lines (a fact stays next to its reaction) among small talk."""
    blocks: list[list[_Said]] = []
    index = 0
    while index < len(planned):
        block = [planned[index]]
        if index + 1 < len(planned) and planned[index + 1][2] is None and planned[index][2]:
            block.append(planned[index + 1])
            index += 1
        blocks.append(block)
        index += 1
    for lines in chat:
        opener = rng.choice(speakers)
        blocks.append(_pair([opener, speakers[1] if opener == speakers[0] else speakers[0]], lines))
    rng.shuffle(blocks)
    return [said for block in blocks for said in block]


def content_words(text: str, ignore: Sequence[str] = ()) -> set[str]:
    """Lower-case words of three letters or more that carry meaning, crudely stemmed."""
    skip = {name.lower() for name in ignore}
    return {
        _stem(word)
        for word in _WORD.findall(text.lower())
        if len(word) >= 3 and word not in _STOP and word not in skip
    }


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


def content_overlap(question: str, evidence: Sequence[str], speakers: Sequence[str]) -> float:
    """The share of the question's content words (speaker names aside) found in its evidence."""
    asked = content_words(question, speakers)
    if not asked:
        return 0.0
    told = set().union(*(content_words(text, speakers) for text in evidence))
    return len(asked & told) / len(asked)


def dump(dataset: Dataset) -> str:
    """The dataset as the exact text written to disk."""
    return json.dumps(dataset, indent=1, ensure_ascii=False) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Write the validation set; ``--help`` lists the options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(dump(generate(args.seed)), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
