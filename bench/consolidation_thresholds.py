"""How the consolidation thresholds were chosen: 90 hand-labelled pairs of facts, embedded with
the real all-MiniLM-L6-v2, and the rule of ``gateway.learning.similarity`` run over a grid.

Each pair is (stored memory, new fact) and a label: ``duplicate`` (same fact in other words: the
right action is to bump the old memory's evidence), ``update`` (a refinement or a change: the new
one should supersede the old) or ``distinct`` (both are true: add). Mistakes are weighed by what
they cost the user::

    truth \\ action   bump   supersede   add
    duplicate          0        1         1     (a spare row, or history for nothing)
    update             3        0         1     (bump loses the new value; add keeps both, dated)
    distinct           3        3         0     (a true fact hidden or lost)

    python bench/consolidation_thresholds.py [--model-dir DIR]
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import numpy as np

from gateway.config import ExtractionConfig
from gateway.learning.similarity import verdict
from gateway.store.embedding import OnnxMiniLM

DEFAULT_MODEL_DIR = (
    Path(__file__).resolve().parents[1].parent / "shared" / "models" / "all-MiniLM-L6-v2" / "onnx"
)
DUPLICATE = [
    ("User lives in Berlin.", "The user lives in Berlin."),
    ("User lives in Berlin, Germany.", "User lives in Berlin."),
    ("User is vegetarian.", "User is a vegetarian."),
    ("User is vegetarian.", "User follows a vegetarian diet."),
    ("User works as a software engineer.", "User is a software engineer."),
    ("User has two children.", "User has 2 kids."),
    ("User prefers concise answers.", "User prefers short, concise answers."),
    ("User prefers concise answers.", "User wants brief answers."),
    (
        "User's favourite programming language is Python.",
        "User's favorite programming language is Python.",
    ),
    ("User is allergic to peanuts.", "User has a peanut allergy."),
    ("User's name is Maria.", "User is called Maria."),
    ("User plays the guitar.", "User plays guitar."),
    ("User is learning Japanese.", "User is studying Japanese."),
    ("User runs marathons.", "User is a marathon runner."),
    ("User has a dog named Rex.", "User owns a dog called Rex."),
    ("User works at Siemens.", "User is employed by Siemens."),
    ("User prefers answers without emojis.", "User does not want emojis in answers."),
    ("User likes spicy food.", "User enjoys spicy food."),
    ("User is a nurse.", "User works as a nurse."),
    ("User speaks French fluently.", "User is fluent in French."),
    ("User uses Linux.", "User uses Linux as their operating system."),
    ("User's daughter is named Emma.", "User has a daughter called Emma."),
    ("User is training for a triathlon.", "User is preparing for a triathlon."),
    (
        "User prefers code examples in TypeScript.",
        "User wants code examples written in TypeScript.",
    ),
    ("User drinks coffee every morning.", "User has coffee each morning."),
    ("User is based in Toronto.", "User lives in Toronto."),
    ("User is 34 years old.", "User is thirty-four years old."),
    ("User prefers formal tone.", "User prefers a formal tone in replies."),
    ("User has diabetes.", "User is diabetic."),
    ("User is married.", "User has a wife."),
]
UPDATE = [
    ("User lives in Berlin.", "User lives in Munich."),
    ("User lives in Berlin.", "User moved from Berlin to Munich."),
    ("User has a dog.", "User has a golden retriever named Max."),
    ("User works as a software engineer.", "User works as a data scientist."),
    ("User works as a software engineer.", "User is a senior software engineer at Siemens."),
    ("User has two children.", "User has three children."),
    ("User is 34 years old.", "User is 35 years old."),
    ("User prefers concise answers.", "User prefers detailed answers."),
    (
        "User's favourite programming language is Python.",
        "User's favourite programming language is Rust.",
    ),
    ("User is vegetarian.", "User is vegan."),
    ("User drives a Toyota Corolla.", "User drives a Tesla Model 3."),
    ("User is learning Japanese.", "User is learning Japanese and has reached JLPT N3."),
    ("User's partner is named Anna.", "User's partner is named Sofia."),
    ("User is single.", "User is married."),
    ("User works at Siemens.", "User works at Bosch."),
    ("User is a student.", "User graduated and now works as a teacher."),
    ("User prefers answers in English.", "User prefers answers in German."),
    ("User's dog is named Rex.", "User's dog is named Bruno."),
    ("User is training for a half marathon.", "User is training for a full marathon."),
    ("User uses Windows.", "User switched from Windows to macOS."),
    ("User prefers formal tone.", "User prefers a casual tone."),
    ("User is allergic to peanuts.", "User is allergic to peanuts and shellfish."),
    ("User's team has five engineers.", "User's team has eight engineers."),
    ("User plans to visit Japan in April.", "User plans to visit Japan in October."),
    ("User prefers bullet points.", "User prefers answers written as prose, not bullet points."),
    ("User drinks coffee every morning.", "User quit coffee."),
    ("User is a junior developer.", "User was promoted to senior developer."),
    ("User rents an apartment.", "User bought a house."),
    ("User's salary is 60,000 euros.", "User's salary is 75,000 euros."),
    ("User wants to learn Go.", "User is now learning Go and has written a CLI tool in it."),
]
DISTINCT = [
    ("User lives in Berlin.", "User works in Berlin."),
    ("User lives in Berlin.", "User likes hiking."),
    ("User has a dog.", "User has a cat."),
    ("User has a dog.", "User is allergic to peanuts."),
    ("User's favourite programming language is Python.", "User uses VS Code."),
    ("User's sister is named Anna.", "User's brother is named Tom."),
    ("User likes Python.", "User likes hiking."),
    ("User is vegetarian.", "User is allergic to peanuts."),
    ("User plays the guitar.", "User plays tennis."),
    ("User works as a software engineer.", "User studied physics."),
    ("User prefers concise answers.", "User prefers answers with code examples."),
    ("User has two children.", "User has a dog."),
    ("User is learning Japanese.", "User is learning to cook."),
    ("User's birthday is in May.", "User's wedding anniversary is in June."),
    ("User prefers concise answers.", "User prefers metric units."),
    ("User is a software engineer.", "User's wife is a doctor."),
    ("User speaks French.", "User speaks Spanish."),
    ("User's daughter is named Emma.", "User's son is named Leo."),
    ("User likes jazz.", "User likes rock music."),
    ("User uses Linux at work.", "User uses macOS at home."),
    ("User is allergic to peanuts.", "User is allergic to cats."),
    ("User drinks coffee every morning.", "User drinks tea in the evening."),
    ("User prefers dark mode.", "User prefers answers in German."),
    ("User works at Siemens.", "User's wife works at Bosch."),
    ("User is training for a marathon.", "User has a knee injury."),
    ("User's mother lives in Rome.", "User's father lives in Milan."),
    ("User owns a Tesla.", "User owns a bicycle."),
    ("User reads science fiction.", "User reads history books."),
    ("User is a member of a chess club.", "User is a member of a book club."),
    ("User has a PhD in chemistry.", "User has a master's degree in physics."),
]

LABELS = {"duplicate": DUPLICATE, "update": UPDATE, "distinct": DISTINCT}
ACTIONS = {"duplicate": "bump", "related": "supersede", "distinct": "add"}
COST = {
    ("duplicate", "bump"): 0,
    ("duplicate", "supersede"): 1,
    ("duplicate", "add"): 1,
    ("update", "bump"): 3,
    ("update", "supersede"): 0,
    ("update", "add"): 1,
    ("distinct", "bump"): 3,
    ("distinct", "supersede"): 3,
    ("distinct", "add"): 0,
}
Scored = list[tuple[str, str, str, float]]


def score_pairs(model_dir: Path) -> Scored:
    embedder = OnnxMiniLM(model_dir)
    try:
        scored = []
        for label, pairs in LABELS.items():
            for old, new in pairs:
                vectors = embedder.embed_sync([old, new])
                scored.append((label, old, new, float(vectors[0] @ vectors[1])))
        return scored
    finally:
        embedder.close()


def actions(scored: Scored, thresholds: ExtractionConfig) -> Counter[tuple[str, str]]:
    return Counter(
        (label, ACTIONS[verdict(new, old, similarity, thresholds)])
        for label, old, new, similarity in scored
    )


def cost(counts: Counter[tuple[str, str]]) -> int:
    return sum(COST[key] * n for key, n in counts.items())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL_DIR)
    args = parser.parse_args()
    scored = score_pairs(args.model_dir)
    for label in LABELS:
        values = [s for lab, _, _, s in scored if lab == label]
        print(
            f"{label:9s} cosine min {min(values):.3f}  median {np.median(values):.3f}  max {max(values):.3f}"
        )
    grid = []
    for d in np.round(np.arange(0.80, 0.995, 0.01), 2):
        for s in np.round(np.arange(0.60, d + 0.001, 0.01), 2):
            counts = actions(
                scored, ExtractionConfig(duplicate_similarity=d, supersede_similarity=s)
            )
            grid.append((cost(counts), counts[("distinct", "supersede")], d, s))
    grid.sort()
    print("\nlowest weighted cost (and how many distinct facts each would supersede):")
    for total, hidden, d, s in grid[:8]:
        print(f"  cost {total:3d}  hides {hidden}  duplicate {d:.2f}  supersede {s:.2f}")
    chosen = ExtractionConfig()
    counts = actions(scored, chosen)
    print(
        f"\nchosen: duplicate {chosen.duplicate_similarity}, supersede {chosen.supersede_similarity}, "
        f"cost {cost(counts)}"
    )
    print("  truth      bump  supersede  add")
    for label in LABELS:
        row = [counts[(label, a)] for a in ("bump", "supersede", "add")]
        print(f"  {label:9s} {row[0]:5d} {row[1]:10d} {row[2]:4d}")
    print("\nmistakes that cost 3 at the chosen thresholds:")
    for label, old, new, similarity in scored:
        action = ACTIONS[verdict(new, old, similarity, chosen)]
        if COST[(label, action)] == 3:
            print(f"  {label} -> {action} at {similarity:.3f}: {old!r} / {new!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
