"""A simulated population through a running gateway, to prove the personalization report.

``python -m bench.personalization --url http://127.0.0.1:8080 --key sk-...`` drives users through
a gateway whose config holds some of them out (``personalization.holdout_percent``; the echo
model and ``extraction.mode: turns`` are enough, see ``bench/personalization.yaml``). Every user
first states a fact about themselves. Then, in each later exchange, a user restates that fact
with a known probability that depends on their cohort, or else asks a question; each of those
exchanges is rated up or down, again with a known probability per cohort, and some users thank
the assistant for remembering. Everything is a function of the seed.

The true differences (memory minus holdout) are printed beside what
``gateway report personalization`` finds; ``--null`` gives both cohorts the same behaviour, where
the report must find no significant difference.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

_FACTS = (
    "I keep bees on the roof of my flat in {city}.",
    "My daughter {name} plays the cello in a youth orchestra.",
    "I am training for a marathon in {city} next spring.",
    "I work night shifts as a radiographer at the {city} hospital.",
    "My partner {name} is allergic to peanuts and shellfish.",
    "I collect vintage typewriters from the nineteen fifties in {city}.",
)
_CITIES = ("Lisbon", "Oslo", "Osaka", "Quito", "Tartu", "Perth", "Leeds", "Brno")
_NAMES = ("Ana", "Mei", "Sara", "Otto", "Luca", "Ines", "Noor", "Pip")
_QUESTIONS = (
    "What should I cook tonight, idea number {n}?",
    "Can you suggest a book for the weekend, pick {n}?",
    "How do I fix a squeaky door hinge, tip {n}?",
    "What is a good stretch after running, option {n}?",
)
_THANKS = "Thanks for remembering, I didn't have to explain that again."


@dataclass(frozen=True, slots=True)
class Population:
    """Who is simulated and how each cohort behaves."""

    users: int = 60
    #: Exchanges per user after the first one, where the fact is stated.
    turns: int = 5
    restate_memory: float = 0.1
    restate_holdout: float = 0.6
    up_memory: float = 0.85
    up_holdout: float = 0.45
    thanks_memory: float = 0.1
    thanks_holdout: float = 0.0
    seed: int = 1

    def null(self) -> Population:
        """The same population where the cohorts behave alike (the holdout's behaviour)."""
        return Population(
            self.users,
            self.turns,
            self.restate_holdout,
            self.restate_holdout,
            self.up_holdout,
            self.up_holdout,
            self.thanks_holdout,
            self.thanks_holdout,
            self.seed,
        )

    def truth(self) -> dict[str, float]:
        """The expected differences (memory minus holdout), in the report's units. The first
        exchange of each user restates nothing and is not rated."""
        share = self.turns / (self.turns + 1)
        return {
            "restated_per_100": 100 * share * (self.restate_memory - self.restate_holdout),
            "thumbs_up_rate": self.up_memory - self.up_holdout,
        }


@dataclass
class Tally:
    exchanges: dict[str, int]
    restated: dict[str, int]
    ups: dict[str, int]
    rated: dict[str, int]

    @classmethod
    def empty(cls) -> Tally:
        zero = {"memory": 0, "holdout": 0}
        return cls(dict(zero), dict(zero), dict(zero), dict(zero))


class Simulation:
    def __init__(self, url: str, key: str, population: Population, prefix: str = "sim") -> None:
        self._client = httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30
        )
        self._population = population
        self._random = random.Random(population.seed)
        self._prefix = prefix
        self.tally = Tally.empty()

    def run(self) -> Tally:
        """Introduce every user, wait until their facts are learned, then the exchanges."""
        users = [f"{self._prefix}-{n:04d}" for n in range(self._population.users)]
        facts = {user: self._fact() for user in users}
        cohorts = {user: self._exchange(user, facts[user]) for user in users}
        self._wait_learned(users)
        for turn in range(self._population.turns):
            for user in users:
                self._turn(user, turn, facts[user], cohorts[user])
        return self.tally

    def close(self) -> None:
        self._client.close()

    def _fact(self) -> str:
        template = self._random.choice(_FACTS)
        return template.format(city=self._random.choice(_CITIES), name=self._random.choice(_NAMES))

    def _turn(self, user: str, turn: int, fact: str, cohort: str) -> None:
        p = self._population
        memory = cohort == "memory"
        restate = self._random.random() < (p.restate_memory if memory else p.restate_holdout)
        thanks = self._random.random() < (p.thanks_memory if memory else p.thanks_holdout)
        text = fact if restate else self._random.choice(_QUESTIONS).format(n=turn)
        if thanks:
            text = f"{_THANKS} {text}"
        self.tally.restated[cohort] += restate
        answered = self._exchange(user, text, keep_id=True)
        up = self._random.random() < (p.up_memory if memory else p.up_holdout)
        self._rate(answered, up)
        self.tally.ups[cohort] += up
        self.tally.rated[cohort] += 1

    def _exchange(self, user: str, text: str, *, keep_id: bool = False) -> str:
        """One chat completion; its cohort, or (``keep_id``) the id to rate it by."""
        body = {"model": "echo", "messages": [{"role": "user", "content": text}]}
        response = self._client.post("/v1/chat/completions", json=body, headers={"X-User-Id": user})
        response.raise_for_status()
        cohort = response.headers["x-memory-cohort"]
        self.tally.exchanges[cohort] += 1
        return str(response.json()["id"]) if keep_id else cohort

    def _rate(self, completion_id: str, up: bool) -> None:
        body = {"id": completion_id, "rating": "up" if up else "down"}
        self._client.post("/v1/feedback", json=body).raise_for_status()

    def _wait_learned(self, users: list[str], timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        for user in users:
            while not self._memories(user):
                if time.monotonic() > deadline:
                    raise RuntimeError("the users' first facts were not learned in time")
                time.sleep(0.05)

    def _memories(self, user: str) -> list[Any]:
        response = self._client.get(f"/v1/users/{user}/memories")
        response.raise_for_status()
        data: list[Any] = response.json()["data"]
        return data


def jobs_done(url: str) -> float:
    """Extraction jobs finished so far, whatever their outcome, from ``/metrics``."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    total = 0.0
    for family in text_string_to_metric_families(text):
        if family.name == "gateway_extraction_jobs":
            total += sum(
                s.value
                for s in family.samples
                if s.name.endswith("_total") and s.labels.get("outcome") != "retried"
            )
    return total


def wait_for_jobs(url: str, at_least: float, timeout: float = 120.0) -> None:
    """Until ``at_least`` jobs have finished: every restatement has been counted."""
    deadline = time.monotonic() + timeout
    while jobs_done(url) < at_least:
        if time.monotonic() > deadline:
            raise RuntimeError("extraction did not catch up in time")
        time.sleep(0.1)


def simulate(url: str, key: str, population: Population, prefix: str = "sim") -> Tally:
    """Run ``population`` through the gateway at ``url`` and wait until learning caught up."""
    before = jobs_done(url)
    simulation = Simulation(url, key, population, prefix)
    try:
        tally = simulation.run()
    finally:
        simulation.close()
    wait_for_jobs(url, before + sum(tally.exchanges.values()))
    return tally


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8080")
    parser.add_argument("--key", required=True, help="a gateway key of the tenant to simulate")
    parser.add_argument("--users", type=int, default=Population.users)
    parser.add_argument("--turns", type=int, default=Population.turns)
    parser.add_argument("--seed", type=int, default=Population.seed)
    parser.add_argument("--prefix", default="sim", help="user ids start with this")
    parser.add_argument("--null", action="store_true", help="both cohorts behave alike")
    args = parser.parse_args(argv)
    population = Population(users=args.users, turns=args.turns, seed=args.seed)
    if args.null:
        population = population.null()
    tally = simulate(args.url, args.key, population, args.prefix)
    json.dump(
        {"population": asdict(population), "truth": population.truth(), "tally": asdict(tally)},
        sys.stdout,
        indent=2,
    )
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
