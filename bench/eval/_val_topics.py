"""The validation set's material: topics, names and small talk that the development set never uses.

A topic is two facts told in two sessions (``first`` and ``then``) and four questions about them,
one per kind. The questions were written from the facts' meaning, not their words: they name
things by what they are ("the vessel", "the inherited piece") where the facts name them by
brand, title or number, which is what the paraphrase and open-domain kinds need. ``{when}``
marks the relative time phrase a temporal question is answered from; ``{s}`` is the subject.
"""

from __future__ import annotations

from dataclasses import dataclass

SPEAKERS = (
    "Bartek", "Ngozi", "Aurelio", "Siobhan", "Tomasz", "Mirela", "Kenji", "Dagny", "Ezra",
    "Ayesha", "Ruairi", "Lotte", "Vikram", "Solange",
)  # fmt: skip
PEOPLE = (
    "Wilhelmina", "Coleman", "Petra", "Anselm", "Farida", "Laszlo", "Odette", "Bram", "Sigrid",
    "Matteo", "Jolene", "Casimir", "Renata", "Dorian", "Ulla", "Kofi",
)  # fmt: skip


@dataclass(frozen=True)
class Ask:
    kind: str
    question: str
    answer: str
    #: Which facts hold the evidence: "first", "then" or both.
    facts: tuple[str, ...]


@dataclass(frozen=True)
class Topic:
    name: str
    #: Values each placeholder is drawn from; ``person`` and ``relative`` come from ``PEOPLE``.
    fills: dict[str, tuple[str, ...]]
    first: str
    then: str
    asks: tuple[Ask, ...]
    #: Talk about the topic that answers nothing: it makes the topic recur as near misses.
    mentions: tuple[str, ...]


def _asks(*rows: tuple[str, str, str, tuple[str, ...]]) -> tuple[Ask, ...]:
    return tuple(Ask(*row) for row in rows)


TOPICS: tuple[Topic, ...] = (
    Topic(
        "allotment",
        {"plot": ("14", "22", "37", "41", "9"), "crop": ("courgette", "leek", "chard", "squash")},
        "Signed the lease on plot {plot} at the Ferncliffe allotments {when}. It's mostly brambles.",
        "{person} from two beds over handed me a tray of {crop} seedlings, so that row's sorted.",
        _asks(
            (
                "single-hop",
                "Which numbered patch does {s} rent for vegetables?",
                "{plot}",
                ("first",),
            ),
            ("temporal", "When did {s} take on the vegetable patch?", "{date}", ("first",)),
            (
                "multi-hop",
                "Who gave {s} young plants, and on which numbered patch will they go?",
                "{person}; {plot}",
                ("first", "then"),
            ),
            (
                "open-domain",
                "What outdoor pastime has {s} recently started?",
                "gardening",
                ("first",),
            ),
        ),
        ("The brambles are winning again.", "Spent three hours weeding and my back hates me."),
    ),
    Topic(
        "renovation",
        {
            "firm": (
                "Kowalczyk & Sons",
                "Brightbeam Builders",
                "Harrow Joinery",
                "Oakline Fitters",
            ),
            "tile": ("terracotta", "slate", "sage zellige", "white metro"),
            "over": ("four hundred", "six hundred", "nine hundred"),
        },
        "{firm} started ripping out our bathroom {when}; we're showering at the gym for a month.",
        "The walls are going to be {tile} in the end, and that went {over} pounds past our plan.",
        _asks(
            ("single-hop", "Which company is doing the work at {s}'s home?", "{firm}", ("first",)),
            ("temporal", "When did the building work at {s}'s place begin?", "{date}", ("first",)),
            (
                "multi-hop",
                "Which contractor is redoing the room where {s} washes, and what finish was picked?",
                "{firm}; {tile}",
                ("first", "then"),
            ),
            (
                "open-domain",
                "Has {s}'s home project stayed within budget?",
                "no, {over} pounds over",
                ("then",),
            ),
        ),
        ("There is dust in places dust should not be.", "The house sounds like a drill concert."),
    ),
    Topic(
        "choir",
        {
            "choir": ("Larkspur Singers", "St Brannock Chorale", "Quayside Voices"),
            "part": ("alto", "tenor", "soprano", "bass"),
            "piece": ("Faure's Requiem", "the Messiah", "Rutter's Gloria", "Bach's Magnificat"),
        },
        "I auditioned for the {choir} {when} and they put me in the {part} section.",
        "Our conductor, {person}, wants us doing {piece} at the December concert.",
        _asks(
            ("single-hop", "What vocal range was {s} assigned?", "{part}", ("first",)),
            ("temporal", "When did {s} try out for the singing group?", "{date}", ("first",)),
            (
                "multi-hop",
                "Who leads the ensemble {s} joined, and what is it called?",
                "{person}; {choir}",
                ("first", "then"),
            ),
            ("open-domain", "What will {s} perform once winter comes?", "{piece}", ("then",)),
        ),
        ("Rehearsal ran late, my voice is a croak.", "Sight-reading is harder than it looks."),
    ),
    Topic(
        "bees",
        {
            "jars": ("eleven", "fourteen", "twenty", "eight"),
            "spot": ("on the flat roof", "behind the shed", "in the orchard corner"),
        },
        "Picked up my first colony {when}; the hive lives {spot} for now.",
        "First harvest came to {jars} jars of honey, and {person} next door already claimed two.",
        _asks(
            (
                "single-hop",
                "How much did {s}'s insects yield at the first collection?",
                "{jars} jars",
                ("then",),
            ),
            ("temporal", "When did {s} get the insects?", "{date}", ("first",)),
            (
                "multi-hop",
                "Who wanted a share of what {s}'s insects produced, and where are they housed?",
                "{person}; {spot}",
                ("first", "then"),
            ),
            (
                "open-domain",
                "Which pastime of {s}'s might earn them the occasional sting?",
                "beekeeping",
                ("first",),
            ),
        ),
        (
            "The hive was grumpy today, I kept the veil on.",
            "Wore the suit in the heat, nearly melted.",
        ),
    ),
    Topic(
        "course",
        {
            "course": ("bookkeeping", "data analysis", "carpentry", "Mandarin"),
            "college": ("Westmere College", "the Halden Institute", "Corbridge Adult Learning"),
            "grade": ("a distinction", "a merit", "ninety-one percent"),
        },
        "Enrolled in the {course} evening course at {college}; classes are Thursdays.",
        "Got my exam result back {when}: {grade}. I might actually frame it.",
        _asks(
            (
                "single-hop",
                "Which institution is {s} attending after work?",
                "{college}",
                ("first",),
            ),
            ("temporal", "When did {s} learn how the test went?", "{date}", ("then",)),
            (
                "multi-hop",
                "What subject was {s} assessed on, and how did {s} score?",
                "{course}; {grade}",
                ("first", "then"),
            ),
            (
                "open-domain",
                "Is {s} picking up a new professional skill?",
                "yes, {course}",
                ("first",),
            ),
        ),
        (
            "Homework tonight, pray for me.",
            "The teacher talks so fast, I can't keep up with notes.",
        ),
    ),
    Topic(
        "lodger",
        {"job": ("paramedic", "tree surgeon", "sound engineer", "pastry chef")},
        "We've got a lodger now, {person}, a {job} who's here for six months.",
        "{person} paid the deposit {when} and has already reorganised our spice rack.",
        _asks(
            (
                "single-hop",
                "What does the person renting {s}'s spare room do for a living?",
                "{job}",
                ("first",),
            ),
            (
                "temporal",
                "When did {s}'s new housemate hand over money upfront?",
                "{date}",
                ("then",),
            ),
            (
                "multi-hop",
                "What is the occupation of whoever tidied {s}'s kitchen cupboard?",
                "{job}",
                ("first", "then"),
            ),
            ("open-domain", "Does {s} live alone at the moment?", "no, with a lodger", ("first",)),
        ),
        (
            "Still getting used to a stranger's toothbrush by the sink.",
            "House rules are on the fridge now.",
        ),
    ),
    Topic(
        "dinghy",
        {
            "boat": ("Puffin", "Mallow", "Kittiwake", "Second Wind"),
            "beach": ("Sandle Point", "Craigmoor Bay", "the Wick estuary"),
        },
        "Bought a half share in a little dinghy called the {boat} with my cousin {person}.",
        "Capsized off {beach} {when}. My phone is sitting in a bag of rice.",
        _asks(
            ("single-hop", "Who co-owns the vessel with {s}?", "{person}", ("first",)),
            ("temporal", "When did {s} end up in the water?", "{date}", ("then",)),
            (
                "multi-hop",
                "Where did {s} tip over, and what is the craft {s} shares called?",
                "{beach}; {boat}",
                ("first", "then"),
            ),
            ("open-domain", "Which water sport has {s} got into?", "sailing", ("first",)),
        ),
        ("Rigging took an hour, the wind took five minutes.", "Wetsuit is drying on the radiator."),
    ),
    Topic(
        "heirloom",
        {
            "item": ("pocket watch", "mantel clock", "signet ring", "fountain pen"),
            "street": ("Crane Lane", "Pellow Street", "the Shambles arcade"),
            "worth": ("eight hundred pounds", "two thousand pounds", "three hundred pounds"),
        },
        "My grandfather's {item} finally came back from the repairer on {street}.",
        "Had it valued {when}: apparently it's worth about {worth}.",
        _asks(
            (
                "single-hop",
                "Where did {s} take the family keepsake to be fixed?",
                "{street}",
                ("first",),
            ),
            (
                "temporal",
                "When did {s} find out what the inherited piece is worth?",
                "{date}",
                ("then",),
            ),
            (
                "multi-hop",
                "What heirloom of {s}'s was mended, and what would it fetch?",
                "{item}; {worth}",
                ("first", "then"),
            ),
            (
                "open-domain",
                "Has {s} had anything appraised recently?",
                "yes, the {item}",
                ("then",),
            ),
        ),
        (
            "It keeps perfect time now, which is more than I do.",
            "Mum cried when she saw it working.",
        ),
    ),
    Topic(
        "chess",
        {
            "town": ("Kettering", "Harrogate", "Dunmore", "Ashby"),
            "seed": ("5", "8", "12", "17"),
            "kid": ("Ottoline", "Barnaby", "Wren", "Caspian"),
        },
        "Entered the {town} rapid open {when}; they've seeded me {seed}th, which is flattering.",
        "Lost the final round to a twelve-year-old called {kid}. Humbling.",
        _asks(
            (
                "single-hop",
                "What ranking did {s} go in with at the competition?",
                "{seed}",
                ("first",),
            ),
            ("temporal", "When did {s} sign up for the tournament?", "{date}", ("first",)),
            (
                "multi-hop",
                "Which child beat {s}, and in which town was the event?",
                "{kid}; {town}",
                ("first", "then"),
            ),
            (
                "open-domain",
                "Which strategy board game does {s} play competitively?",
                "chess",
                ("first",),
            ),
        ),
        ("Studied openings until midnight again.", "My knight sacrifice did not go to plan."),
    ),
    Topic(
        "bakery",
        {
            "brand": ("Crumb & Kettle", "Window Loaf", "Rise Street", "The Proof Shelf"),
            "bread": ("rye", "seeded batch loaves", "cinnamon knots", "focaccia"),
        },
        "Started selling sourdough from our front window on Saturdays; I call it {brand}.",
        "Sold out of {bread} by ten {when}, so I'm doubling the batch.",
        _asks(
            ("single-hop", "What name does {s} trade under?", "{brand}", ("first",)),
            ("temporal", "When did {s}'s stock run out early?", "{date}", ("then",)),
            (
                "multi-hop",
                "What is {s}'s little shop called, and what was gone before mid-morning?",
                "{brand}; {bread}",
                ("first", "then"),
            ),
            (
                "open-domain",
                "Does {s} earn money from cooking at home?",
                "yes, {brand}",
                ("first",),
            ),
        ),
        ("Up at four feeding the starter.", "Flour everywhere, the cat is white now."),
    ),
    Topic(
        "theatre",
        {
            "play": ("The Lighthouse Keeper", "A Month of Sundays", "Hedda Gabler", "Arcadia"),
            "venue": ("the Gatehouse", "the Old Corn Exchange", "the Palisade Studio"),
        },
        "I'm doing the lighting for {play} at {venue}. Tech week is brutal.",
        "Opening night was {when}; {person}, our director, cried at the curtain call.",
        _asks(
            ("single-hop", "Which show is {s} working on backstage?", "{play}", ("first",)),
            ("temporal", "When did the show {s} works on have its premiere?", "{date}", ("then",)),
            (
                "multi-hop",
                "Who directed the show {s} worked on, and at which venue?",
                "{person}; {venue}",
                ("first", "then"),
            ),
            (
                "open-domain",
                "What technical role does {s} have on the stage production?",
                "lighting",
                ("first",),
            ),
        ),
        ("Focused forty lamps today, my neck is gone.", "The fog machine set off the alarm again."),
    ),
    Topic(
        "niece",
        {
            "baby": ("Marigold", "Thea", "Clementina", "Saoirse"),
            "church": ("St Aldhelm's", "the chapel in Penrose", "St Mungo's"),
        },
        "My brother {person} and his wife had a baby girl, {baby}, {when}.",
        "I'm going to be {baby}'s godparent; the christening is at {church}.",
        _asks(
            ("single-hop", "What is the name of {s}'s newest family member?", "{baby}", ("first",)),
            ("temporal", "When did {s} become an aunt or uncle?", "{date}", ("first",)),
            (
                "multi-hop",
                "Which sibling's child will {s} sponsor, and where is that service?",
                "{person}; {church}",
                ("first", "then"),
            ),
            ("open-domain", "Has {s}'s family grown recently?", "yes, a niece", ("first",)),
        ),
        ("Sent another parcel of tiny socks.", "The photos are relentless and adorable."),
    ),
)

OPENERS = (
    ("Evening! Got a minute?", "Always. What's new?"),
    ("Morning. Surviving?", "Just about. Coffee is helping."),
    ("Hey, it's been ages.", "Too long! Catch me up."),
    ("You around?", "Yep, on the bus. Go."),
)
CLOSERS = (
    ("Right, dinner's burning. Later!", "Go save it. Speak soon."),
    ("I'd better sleep. Night!", "Night night."),
    ("Battery at 3 percent, bye!", "Ha, bye!"),
)
SMALL_TALK = (
    ("Did you see the storm last night?", "Lost a fence panel to it."),
    ("I've started doing crosswords on the train.", "Cryptic or the easy ones?"),
    ("The upstairs neighbours got a piano.", "Are they any good?"),
    ("I finally watched that documentary about octopuses.", "Told you! They're geniuses."),
    ("Work is mostly meetings about meetings this week.", "The classic."),
    ("Tried a new ramen place, it was fine.", "Just fine? Tragic."),
    ("My plants are dying and I don't know why.", "Overwatering, always overwatering."),
    ("I bought a rowing machine and it's a coat rack now.", "Every household has one."),
    ("There's a heron that stands on our roof every morning.", "Ominous. Or lucky."),
    ("Do you still use that budgeting app?", "Gave up in March, honestly."),
    ("Kettle broke, boiling water in a pan like a pioneer.", "Living history."),
    ("I've been sleeping terribly.", "Too much screen at night?"),
    ("The bus was forty minutes late again.", "Write a strongly worded letter."),
    ("Made soup from whatever was in the fridge.", "Brave. Was it edible?"),
    ("Someone parked across my driveway all day.", "The audacity."),
    ("I've got a cold coming, I can feel it.", "Hot honey and lemon, go."),
    ("We're repainting the hallway, finally.", "What colour?"),
    ("I might cut my own hair this weekend.", "Please don't."),
    ("The cinema near me is closing down.", "End of an era."),
    ("I'm learning to juggle, badly.", "Film it, I need a laugh."),
    ("Our landlord finally fixed the boiler.", "Only took a season."),
    ("Went for a walk and got rained on twice.", "Classic spring."),
    ("Reading a thriller I can't put down.", "Spoilers and I'll scream."),
    ("My sister is visiting next month.", "Big clean-up then?"),
    ("The printer at work jammed in a new way.", "It's evolving."),
    ("I finally sorted out my sock drawer.", "Peak adulthood."),
    ("The gym was packed at six this morning.", "Who are these people?"),
    ("Found twenty quid in an old coat.", "Best feeling there is."),
)
REACTIONS = ("No way!", "Oh nice.", "Ha, of course.", "That's brilliant.", "Oof.", "Wow, really?")
