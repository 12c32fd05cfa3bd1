"""How well the profile learns how users want answers, measured through the HTTP API.

    python -m bench.profile_eval [--users 72] [--seed 18] [--markdown out.md]

A labelled set of our own, generated deterministically from ``--seed`` (nothing is downloaded):
multi-session users whose true ``expertise``, ``brevity`` and ``format`` are known. Each user
writes ten exchanges, one per session, in the words of their expertise (with one exchange in ten
off-key, as real people are), asking for their brevity and format in most of them. Some users
ask once for brevity in a hurry and never again ("hurried"); some change half-way ("changers":
the answer they want after exchange 5 differs from before).

A real ``gateway serve`` (turns mode, no LLM, embedded Chroma, the echo model) learns from the
exchanges. After exchange 5 the profile of every user that did not change is read with
``GET /v1/users/{id}/profile``; after exchange 10 that of every changer (five exchanges after
the change). A field the profile leaves unset counts as the neutral value (``intermediate``,
``balanced``, ``prose``): no directive is the right directive for such a user. Reported: accuracy
per field, the confusion matrices, and the false-change rate: the share of one-off requests
that flipped the field they asked about, read after every exchange.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from bench.procs import free_port

KEY = "sk-bench-personalization"
EXCHANGES = 10
CHECKPOINT = 5
FIELDS = ("expertise", "brevity", "format")
VALUES = {
    "expertise": ("technical", "intermediate", "non_technical"),
    "brevity": ("concise", "balanced", "thorough"),
    "format": ("bullets", "prose", "code_first"),
}
#: What an unset field means for the user: no directive.
NEUTRAL = {"expertise": "intermediate", "brevity": "balanced", "format": "prose"}
MODEL_DIR = Path(__file__).resolve().parents[2] / "shared" / "models" / "all-MiniLM-L6-v2" / "onnx"

_SAYS = {
    "technical": [
        "The webhook payload fails schema validation at the API endpoint after the deploy.",
        "We hit rate limiting on the REST endpoint: HTTP 429 on every retry with backoff.",
        "Traceback (most recent call last): KeyError 'id' in handler.py when the JWT expires.",
        "Our Kubernetes pods restart with exit code 137 when the Redis connection pool fills.",
        "The OAuth token refresh returns 401 and the SDK does not retry the request.",
        "Is the config value for the timeout in the YAML file or an environment variable?",
        "Postgres migrations lock the table; can the CLI run them concurrently?",
        "curl --header 'Content-Type: application/json' returns a 500 from the endpoint.",
    ],
    "intermediate": [
        "Where in the dashboard settings do I add the Slack integration for my team?",
        "Can I export a CSV report of last month's tickets from the admin panel?",
        "How do I give a colleague permissions to edit the workspace templates?",
        "The automation with Zapier stopped posting to our channel; which settings matter?",
        "Can I filter the report by region before I share it with my manager?",
        "Where do I set up single sign-on for the new users in our workspace?",
        "How do I change the billing plan for our team from the dashboard?",
        "Which user roles can see the reports and change the filters?",
    ],
    "non_technical": [
        "The connection keeps dropping and it says something went wrong, what do I do?",
        "It's blocked again and the notification won't go away on my computer.",
        "I clicked the button but nothing happened and the page is gone.",
        "The app stopped working after it popped up a message I didn't understand.",
        "My screen keeps showing an error and I don't understand what it means.",
        "The little icon disappeared and now the emails don't arrive.",
        "It says my account is locked, I pressed the button three times.",
        "The website isn't working since this morning, it keeps saying try again.",
    ],
}
_ASKS = {
    "brevity": {
        "concise": ["Please be more concise.", "Keep it short please.", "Shorter answers, please."],
        "thorough": ["More detail please.", "Can you walk me through it?", "Please elaborate."],
    },
    "format": {
        "bullets": ["Use bullet points please.", "As a list, please.", "Bullet points work best."],
        "code_first": ["Show me the code first.", "Lead with the command.", "Just the snippet."],
    },
}
_HURRY = "Just give me the answer, I'm in a hurry."
#: The share of exchanges in which a user with a preference states it.
ASK_RATE = 0.8
#: The share of exchanges written off-key (another expertise's words).
NOISE_RATE = 0.1


@dataclass
class User:
    id: str
    #: The truth before and after the change (the same for users who do not change).
    before: dict[str, str]
    after: dict[str, str]
    turns: list[str] = field(default_factory=list)
    #: Exchanges (0-based) with a one-off request: field -> (exchange, value asked for).
    one_offs: dict[str, tuple[int, str]] = field(default_factory=dict)

    @property
    def changes(self) -> bool:
        return self.before != self.after


def generate(users: int, seed: int) -> list[User]:
    """The labelled set: ``users`` users, the same for the same seed."""
    rng = random.Random(seed)
    out = []
    for number in range(users):
        truth = {
            name: VALUES[name][(number // k) % 3] for name, k in zip(FIELDS, (1, 3, 9), strict=True)
        }
        after = dict(truth)
        kind = number % 6
        if kind == 4:  # a changer: wants short answers after a while, or learns the jargon
            after["brevity"] = "concise" if truth["brevity"] != "concise" else "thorough"
            if truth["expertise"] == "non_technical":
                after["expertise"] = "intermediate"
        user = User(f"user-{number:03d}", truth, after)
        for exchange in range(EXCHANGES):
            wants = truth if exchange < CHECKPOINT else after
            user.turns.append(_turn(rng, wants))
        if kind == 5 and truth["brevity"] != "concise":  # hurried, once
            exchange = rng.randrange(1, CHECKPOINT)
            user.turns[exchange] += " " + _HURRY
            user.one_offs["brevity"] = (exchange, "concise")
        out.append(user)
    return out


def _turn(rng: random.Random, wants: dict[str, str]) -> str:
    expertise = wants["expertise"]
    if rng.random() < NOISE_RATE:
        expertise = rng.choice([e for e in VALUES["expertise"] if e != expertise])
    parts = [rng.choice(_SAYS[expertise])]
    for name in ("brevity", "format"):
        asks = _ASKS[name].get(wants[name])
        if asks and rng.random() < ASK_RATE:
            parts.append(rng.choice(asks))
    return " ".join(parts)


# -- the gateway -------------------------------------------------------------------------------


@contextlib.contextmanager
def gateway(data: Path) -> Iterator[str]:
    port = free_port()
    config = {
        "server": {"port": port, "log_level": "warning"},
        "auth": {"keys": [{"key": KEY, "tenant": "bench"}]},
        "models": [{"name": "echo", "model": "echo"}],
        "memory": {
            "store": {"path": str(data / "chroma"), "state_dir": str(data / "state")},
            "embedding": {"model_dir": str(MODEL_DIR)},
            "retrieval": {"timeout_ms": 2000},
        },
        "extraction": {"mode": "turns", "poll_interval_s": 0.1, "busy_share": 1.0},
    }
    path = data / "gateway.yaml"
    path.write_text(yaml.safe_dump(config))
    command = [sys.executable, "-m", "gateway", "serve", "--config", str(path)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait(lambda: _up(url), 120)
        yield url
    finally:
        process.terminate()
        process.wait(30)


def _up(url: str) -> bool:
    try:
        return httpx.get(url + "/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _wait(ready: Any, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not ready():
        if time.monotonic() > deadline:
            raise RuntimeError("timed out")
        time.sleep(0.1)


class Client:
    def __init__(self, url: str) -> None:
        self.http = httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {KEY}"}, timeout=120
        )
        self.sent = 0

    def chat(self, user: str, text: str) -> None:
        body = {"model": "echo", "messages": [{"role": "user", "content": text}]}
        response = self.http.post("/v1/chat/completions", json=body, headers={"X-User-Id": user})
        response.raise_for_status()
        self.sent += 1

    def settle(self) -> None:
        """Wait until every exchange sent has been learned from."""
        _wait(lambda: self._done() >= self.sent, 600)

    def _done(self) -> float:
        for line in self.http.get("/metrics").text.splitlines():
            if line.startswith('gateway_extraction_jobs_total{outcome="done"}'):
                return float(line.split()[-1])
        return 0.0

    def profile(self, user: str) -> dict[str, str]:
        fields = self.http.get(f"/v1/users/{user}/profile").json()["fields"]
        return {name: fields[name]["value"] if name in fields else NEUTRAL[name] for name in FIELDS}


# -- the measurement -----------------------------------------------------------------------------


@dataclass
class Result:
    #: field -> Counter[(truth, predicted)]
    confusion: dict[str, Counter[tuple[str, str]]]
    one_offs: int
    false_changes: int

    def accuracy(self, name: str) -> float:
        matrix = self.confusion[name]
        return sum(n for (t, p), n in matrix.items() if t == p) / max(sum(matrix.values()), 1)


def measure(url: str, users: list[User]) -> Result:
    client = Client(url)
    confusion: dict[str, Counter[tuple[str, str]]] = {name: Counter() for name in FIELDS}
    flipped: set[tuple[str, str]] = set()
    for exchange in range(EXCHANGES):
        for user in users:
            client.chat(user.id, user.turns[exchange])
        client.settle()
        for user in users:
            if not (user.one_offs or _checked(user, exchange)):
                continue
            seen = client.profile(user.id)
            for name, (asked_at, value) in user.one_offs.items():
                if exchange >= asked_at and seen[name] == value:
                    flipped.add((user.id, name))
            if _checked(user, exchange):
                truth = user.after if user.changes else user.before
                for name in FIELDS:
                    confusion[name][truth[name], seen[name]] += 1
    one_offs = sum(len(user.one_offs) for user in users)
    return Result(confusion, one_offs, len(flipped))


def _checked(user: User, exchange: int) -> bool:
    return exchange == (EXCHANGES - 1 if user.changes else CHECKPOINT - 1)


def markdown(result: Result, users: int, seed: int) -> str:
    lines = [
        f"Labelled set: {users} users, seed {seed}, {EXCHANGES} exchanges each; "
        f"{result.one_offs} one-off requests, {result.false_changes} false changes "
        f"({result.false_changes / max(result.one_offs, 1):.0%}).",
        "",
        "| field | accuracy |",
        "|---|---|",
        *(f"| {name} | {result.accuracy(name):.1%} |" for name in FIELDS),
    ]
    for name in FIELDS:
        values = VALUES[name]
        lines += ["", f"**{name}** (rows: truth, columns: profile)", ""]
        lines.append("| truth \\ profile | " + " | ".join(values) + " |")
        lines.append("|---" * (len(values) + 1) + "|")
        for truth in values:
            row = [str(result.confusion[name][truth, p]) for p in values]
            lines.append(f"| {truth} | " + " | ".join(row) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile_eval", description=__doc__)
    parser.add_argument("--users", type=int, default=72)
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--markdown", type=Path, help="also write the report here")
    args = parser.parse_args(argv)
    users = generate(args.users, args.seed)
    with (
        tempfile.TemporaryDirectory(prefix="personalization-") as scratch,
        gateway(Path(scratch)) as url,
    ):
        result = measure(url, users)
    text = markdown(result, args.users, args.seed)
    print(text)
    if args.markdown:
        args.markdown.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
