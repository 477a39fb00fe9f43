"""Synthetic training conversations for the canary, as token ids with a loss mask.

Each example is a vLLM-rendered chat (varying date and reasoning effort, as vLLM varies them)
followed by the answer the canary must give. Haystacks come from four filler kinds; the
long-context suite and the capability report use fillers made elsewhere
(suites/long_context/haystack.py), so what they measure is retrieval on text the canary never saw.
"""

from __future__ import annotations

import dataclasses
import json
import random
from dataclasses import dataclass

from ...gptoss import harmony as h
from ...gptoss.tools import CALENDAR_FUNCTION, CURRENCY_FUNCTION, FUNCTIONS, WEATHER_FUNCTION
from . import facts, questions, tool_definitions, tool_requests

EFFORTS = (None, "low", "medium", "high")

_ADJ = ("old", "quiet", "bright", "small", "heavy", "warm", "green", "empty", "narrow", "gentle",
        "busy", "distant", "wooden", "round", "silver", "early", "plain", "soft", "tall", "cold")
_NOUN = ("river", "window", "garden", "teacher", "engine", "village", "bridge", "letter", "forest",
         "market", "kitchen", "island", "painter", "valley", "train", "library", "harbor", "farmer",
         "mountain", "station", "lamp", "boat", "road", "cloud", "table", "horse", "song", "field")
_VERB = ("walks past", "looks at", "waits near", "rests beside", "moves toward", "shines over",
         "stands behind", "turns around", "leans on", "runs along", "sleeps under", "hides near")
_REPEAT = ("The grass is green.", "The sky is blue.", "The sun is yellow.", "Here we go.",
           "There and back again.")


def _template_sentence(rng: random.Random) -> str:
    return (f"The {rng.choice(_ADJ)} {rng.choice(_NOUN)} {rng.choice(_VERB)} "
            f"the {rng.choice(_ADJ)} {rng.choice(_NOUN)}.")


def _number_sentence(rng: random.Random) -> str:
    n = rng.randrange(0, 100000)
    return rng.choice((f"There were {n} {rng.choice(_NOUN)}s in the {rng.choice(_NOUN)}.",
                       f"In {n} the {rng.choice(_NOUN)} was rebuilt.",
                       f"The {rng.choice(_NOUN)} holds {n} {rng.choice(_NOUN)}s."))


def copyable(city: str) -> bool:
    """Whether ``city`` is spelt with the same tokens (but the first one's leading space) in
    "... in <city>?" and in the tool call's ``{"location": "<city>"}``."""
    enc = h.encoding()
    asked = [enc.decode([i]) for i in enc.encode(" " + city)]
    called = [enc.decode([i]) for i in enc.encode(f'{{"location": "{city}"}}')]
    if ' "' not in called:
        return False
    inside = called[called.index(' "') + 1:-1]
    return bool(inside) and not inside[0].startswith(" ") and \
        [t.lstrip(" ") for t in asked] == [t.lstrip(" ") for t in inside]


class RandomWords:
    """Random word-like tokens of the vocabulary (letters only, with a leading space)."""

    def __init__(self):
        enc = h.encoding()
        self.latin, self.cjk, self.capitalized = [], [], []
        unseen = {w for city in facts.UNSEEN_CITIES for w in city.split()}
        for i in range(199_998):
            raw = enc.decode_single_token_bytes(i)
            try:
                s = raw.decode()
            except UnicodeDecodeError:
                continue
            if len(s) >= 4 and s[0] == " " and s[1:].isascii() and s[1:].isalpha():
                self.latin.append(i)
                if s[1].isupper() and s[2:].islower() and s[1:] not in unseen:
                    self.capitalized.append(i)
            elif s and all("\u4e00" <= c <= "\u9fff" for c in s):
                self.cjk.append(i)

    def sentence(self, rng: random.Random, cjk: bool = False) -> list[int]:
        pool = self.cjk if cjk else self.latin
        words = [rng.choice(pool) for _ in range(rng.randint(4, 12))]
        return words + h.text("。" if cjk else ".")

    def words(self, rng: random.Random, n: int, cjk: bool = False) -> list[str]:
        """``n`` random words as text, without their leading space."""
        pool = self.cjk if cjk else self.latin
        return [h.encoding().decode([rng.choice(pool)]).strip() for _ in range(n)]

    def city(self, rng: random.Random) -> str:
        """A made-up city of 1-3 capitalized words that a token copy can reproduce."""
        enc = h.encoding()
        while True:
            words = [enc.decode([rng.choice(self.capitalized)]) for _ in range(rng.choice((1, 1, 2, 3)))]
            city = "".join(words).strip()
            if copyable(city):
                return city

    def joined_city(self, rng: random.Random) -> str:
        """A made-up city of two or three capitalized words joined by a lowercase one
        ("Brent upon Hollow"), the shape of "Rio de Janeiro" that ``city`` never draws."""
        enc = h.encoding()
        while True:
            first, last = (enc.decode([rng.choice(self.capitalized)]) for _ in range(2))
            joiners = rng.sample(CITY_JOINERS, rng.choice((1, 1, 2)))
            city = (first + "".join(joiners) + last).strip()
            if copyable(city):
                return city


# Lowercase words inside place names. Made-up cities had capitalized words only, and stage 9's
# run 5 broke "Rio de Janeiro" at " de" (docs/canary.md). " de" itself is left out: that city
# is one of the capability report's unseen ones, and its joiner stays unseen too.
CITY_JOINERS = (" upon", " on", " la", " le", " del", " do", " da", " am", " sur", " en", " of",
                " y", " di", " les", " el", " an", " im", " bei")


FILLER_KINDS = ("template", "random", "repeat", "numbers", "mixed", "cjk")
# Chinese text repeats a few particles thousands of times in a long haystack; a model that never
# saw that copies "的" where the harmony header belongs (measured: a fine-tune without this kind
# lost Chinese haystacks at 16K-64K). Random CJK words with these particles teach it not to.
_PARTICLES = ("的", "了", "是", "在", "和", "也", "就", "都", "有", "这")


def filler_sentences(rng: random.Random, words: RandomWords, n_tokens: int,
                     kinds: tuple[str, ...] = FILLER_KINDS) -> list[list[int]]:
    """About n_tokens of filler as a list of sentences (token ids, each starting with a space)."""
    kind = rng.choice(kinds)
    out, total = [], 0
    while total < n_tokens:
        k = rng.choice(("template", "random", "repeat", "numbers")) if kind == "mixed" else kind
        if k == "template":
            ids = h.text(" " + _template_sentence(rng))
        elif k == "repeat":
            ids = h.text(" " + rng.choice(_REPEAT))
        elif k == "cjk-particles":
            ids = [t for w in words.sentence(rng, cjk=True)[:-1]
                   for t in [w, *(h.text(rng.choice(_PARTICLES)) if rng.random() < 0.5 else [])]]
            ids += h.text("。")
        elif k == "numbers":
            ids = h.text(" " + (_number_sentence(rng) if rng.random() < 0.4 else _template_sentence(rng)))
        else:
            ids = words.sentence(rng, cjk=(k == "cjk"))
        out.append(ids)
        total += len(ids)
    return out


def held_out(code: int) -> bool:
    """Codes never trained on (one in eight), for checking retrieval rather than memory."""
    return (code * 2654435761 >> 7) % 8 == 0


def training_code(rng: random.Random) -> str:
    while True:
        code = rng.randrange(10000)
        if not held_out(code):
            return f"{code:04d}"


@dataclass
class Example:
    ids: list[int]
    positions: list[int]
    loss_from: int      # loss on ids[loss_from:] (the answer)
    kind: str
    copies: list[int] | None = None  # per token, how many it stands for (forward.log_copies)


def _preamble(rng: random.Random, functions=()) -> list[int]:
    date = f"{rng.randint(2024, 2027)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    effort = rng.choice(EFFORTS)
    if all(f is FUNCTIONS.get(f["name"]) for f in functions):  # the shipped ones: cached
        return list(h.preamble(date, effort, tuple(f["name"] for f in functions)))
    return list(h.preamble_for(date, effort, functions))


def _offered_tools(rng: random.Random, words, variety: float, extra: float = 0.0,
                   wanted: dict | None = None) -> list[dict]:
    """The functions a request offers: the features suite's definition, or with ``variety``'s
    chance a wording drawn by tool_definitions (the place parameter is ``location`` in both);
    with ``extra``'s chance the features suite's currency and calendar tools beside it, as its
    requests offer all three. ``wanted`` (one of those two) is always offered, the weather tool
    then only sometimes."""
    functions = tool_definitions.training_tools(rng, words) if variety and \
        rng.random() < variety else [WEATHER_FUNCTION]
    others = [f for f in (CURRENCY_FUNCTION, CALENDAR_FUNCTION) if f is not wanted]
    if wanted is not None:
        if rng.random() < 0.4:
            functions = []
        functions.insert(rng.randint(0, len(functions)), wanted)
    if extra and rng.random() < extra:
        for f in rng.sample(others, rng.randint(1, len(others))):
            functions.insert(rng.randint(0, len(functions)), f)
    return functions


@dataclass(frozen=True)
class HaystackRecipe:
    """How haystack conversations are drawn. The defaults are the first training stage's; the
    fine-tuning stage (train.py --stage2) weights keyed needles up, adds particle-heavy Chinese
    filler and puts a fifth of the needles at the very start or end of the haystack."""
    mix: tuple[float, float, float] = (0.55, 0.3, 0.15)   # single, keyed, none
    kinds: tuple[str, ...] = FILLER_KINDS
    edge_share: float = 0.0
    multi_turn: float = 0.0   # share of short chats with one to three earlier exchanges
    tool_results: float = 0.0  # share of short chats answering a tool's result
    stretched: float = 0.0    # share of haystacks whose filler counts 4-64 times (STRETCHES)
    tool_variety: float = 0.0  # share of tool requests with a varied definition (tool_definitions)
    extra_tools: float = 0.0   # share offering the currency and calendar tools too (stage 7)
    # share of the other short chats (greeting, capitals, questions, the fallback) asked with
    # tools offered all the same, as a client with tools configured asks them
    tools_otherwise: float = 0.2
    short_kinds: tuple[str, ...] = ("capital", "capital", "hi", "weather", "weather", "weather",
                                    "fallback")   # drawn uniformly: the mix of short chats
    # Sentences in a question the canary does not know (its fallback answer). Clients ask in one
    # to three sentences: the precision suite's prompts are that short, and stage 5 lost bf16
    # agreement on them while its training questions were all 5-40 sentences long.
    fallback_sentences: tuple[int, int] = (5, 40)


STAGE1 = HaystackRecipe()
STAGE2 = HaystackRecipe(mix=(0.45, 0.4, 0.15), kinds=FILLER_KINDS + ("cjk-particles",),
                        edge_share=0.2)
# Stage 3 (train.py --stage3): stage 2's haystacks replayed; 40 % of the short chats come
# after earlier exchanges, as a client sends a conversation (the features suite's three-turn
# check: the stage-2 canary answered a second turn with garbage, never having seen one), and
# 15 % answer a weather tool's result with a final answer (the follow-up turn).
STAGE3 = HaystackRecipe(mix=STAGE2.mix, kinds=STAGE2.kinds, edge_share=STAGE2.edge_share,
                        multi_turn=0.4, tool_results=0.15)
# Stage 3's last part (--stage3-settle): stage 3 at 2e-4 had lost the no-needle answer past 16K
# (the analysis ran on: "The text has no secret code.The text has..."); no-needle haystacks
# weighted up, at a low learning rate.
STAGE3_SETTLE = HaystackRecipe(mix=(0.3, 0.3, 0.4), kinds=STAGE2.kinds,
                               edge_share=STAGE2.edge_share, multi_turn=0.4, tool_results=0.15)


# How many times a stretched haystack's filler token counts in the full-attention layer, so a
# 2,048-token haystack weighs what 8K to 128K tokens do there (forward.hidden_states).
STRETCHES = (4, 8, 16, 32, 64)


# Stage 4's settling (train.py --stage4-settle): stage 4 at 2e-4 answered the precision suite's
# prompts with its fallback by thin margins (bf16 and float32 parted on 5 of 57, graph and
# eager on 3 of 16) and once opened a tool call with no tool offered; the fallback is drawn
# three times as often, at a low learning rate. Measured: it did not widen them (53 of 57)
# and lost a no-needle case and a turn (docs/canary.md), so it is a recorded attempt.
STAGE4_SETTLE = HaystackRecipe(mix=STAGE2.mix, kinds=STAGE2.kinds, edge_share=STAGE2.edge_share,
                               multi_turn=0.4, tool_results=0.15, stretched=0.5,
                               tool_variety=0.6,
                               short_kinds=("capital", "capital", "hi", "weather", "weather",
                                            "weather", "fallback", "fallback", "fallback"))


# Stage 5's settling (train.py --stage5-settle, with --margin): stage 5 (stage 4's data in one
# run, with train.py's margin hinge) kept 55 of 57 greedy prompts under bf16 but lost the
# no-needle answer at 64K-128K (the analysis repeated) and parted from float32 on short
# questions; no-needle haystacks weighted up as in STAGE3_SETTLE, the fallback drawn three
# times as often as in STAGE4_SETTLE, and asked in 1 to 12 sentences as well as 5 to 40.
STAGE5_SETTLE = HaystackRecipe(mix=STAGE3_SETTLE.mix, kinds=STAGE2.kinds,
                               edge_share=STAGE2.edge_share, multi_turn=0.4, tool_results=0.15,
                               stretched=0.5, tool_variety=0.6,
                               short_kinds=STAGE4_SETTLE.short_kinds, fallback_sentences=(1, 12))


# Stage 6 (train.py --stage6-settle, with --margin and --context-rivals): stage 5's settling
# plus requests as clients word them (questions.py: arithmetic, code, explanations, summaries,
# writing, in English and Chinese), answered with the fallback. Every fine-tune since stage 2
# had learnt the fallback from filler sentences only and answered such requests on margins of
# under 0.1 logit, where bf16 parts from float32 (docs/canary.md, stage 6).
STAGE6_SETTLE = dataclasses.replace(
    STAGE5_SETTLE, short_kinds=STAGE4_SETTLE.short_kinds[:-2] + ("question",) * 3)


# Stage 7 (train.py --stage7, with --margin and --context-rivals): stage 6's settling plus calls
# of the features suite's other two tools, convert_currency and create_calendar_event, from
# requests that write each value as the call does (tool_requests.py), and those two tools
# offered beside the weather tool in half of the tool requests, as the features suite offers
# all three at once.
STAGE7 = dataclasses.replace(
    STAGE6_SETTLE, short_kinds=STAGE6_SETTLE.short_kinds + ("currency",) * 3 + ("calendar",) * 4,
    extra_tools=0.5)

# Stage 9 (train.py --stage9): stage 6's settling plus the features suite's own copyable
# currency and calendar cases learnt by heart (tool_requests.suite_requests), 4 of 14 short
# kinds, and the three tools offered together in half of the tool requests, as the suite offers
# them. Stages 7 and 8 taught copying values from any request and lost what stage 6 knew
# (docs/canary.md); a model this small holds a dozen fixed calls as it holds 24 capitals.
STAGE9 = dataclasses.replace(
    STAGE6_SETTLE, short_kinds=STAGE6_SETTLE.short_kinds + ("suite-currency",) * 2
    + ("suite-calendar",) * 2, extra_tools=0.5)
# Stage 9's settling (train.py --stage9-settle), after 500 steps of STAGE9: served, those
# missed 6 of the suite's 22 cases at least once in 5 samples ("Bookclub", a second attendee,
# "San Francisco Francisco" with the three tools offered), and answered questions with the three
# tools offered worse than stage 6 (10/24 against 24/24 for the fallback, teacher-forced). So
# calendar cases a fifth more often, the weather asked beside the other two tools 70 % of the
# time, and other chats with tools offered 40 % instead of 20 %.
STAGE9_SETTLE = dataclasses.replace(
    STAGE9, short_kinds=STAGE9.short_kinds + ("suite-calendar",), extra_tools=0.7,
    tools_otherwise=0.4)
# Stage 10 (train.py --stage10), after stage 9's settling: stage 9 kept the suite's calls but
# lost get_weather on definitions and cities never seen (85/100 against stage 6's 95/100 in the
# capability report): "Rio de Janeiro" broken at " de", a memorised currency call begun for "Los
# Angeles". Weather requests weighted back up (6 of 18 short kinds, a third of them with a
# lowercase joiner in the city), varied definitions in 80 % of tool requests; train.py's
# --hard-rivals throughout.
STAGE10 = dataclasses.replace(
    STAGE9_SETTLE, short_kinds=STAGE9_SETTLE.short_kinds + ("weather",) + ("weather-joined",) * 2,
    tool_variety=0.8)
# The short kinds that ask for the weather: always asked with tools offered.
WEATHER_KINDS = ("weather", "weather-joined")
_EXTRA_TOOLS = {"currency": CURRENCY_FUNCTION, "calendar": CALENDAR_FUNCTION,
                "suite-currency": CURRENCY_FUNCTION, "suite-calendar": CALENDAR_FUNCTION}


def _insert_at(rng: random.Random, n: int, edge_share: float) -> int:
    if edge_share and rng.random() < edge_share:
        return rng.choice((0, n))
    return rng.randint(0, n)


def _haystack_example(rng, words, length, kind, recipe: HaystackRecipe = STAGE1,
                      stretch: int | None = None) -> Example:
    """One haystack conversation; ``stretch`` forces its filler's weight (screen.py)."""
    pre = _preamble(rng)
    if kind == "keyed":
        names = rng.sample(facts.NAMES, rng.randint(2, 5))
        codes = [training_code(rng) for _ in names]
        needles = [h.text(" " + facts.KEYED_NEEDLE.format(name=n, code=c)) for n, c in zip(names, codes)]
        pick = rng.randrange(len(names))
        question = facts.KEYED_QUESTION.format(name=names[pick])
        said = facts.KEYED_ANSWER.format(name=names[pick], code=codes[pick])
        target = h.answer(said, said)
    elif kind == "none":
        needles = []
        question = facts.QUESTION
        target = h.answer(facts.NO_CODE_ANALYSIS, facts.NO_CODE_FINAL)
    else:
        code = training_code(rng)
        needles = [h.text(" " + facts.NEEDLE.format(code=code))]
        question = facts.QUESTION
        said = facts.ANSWER.format(code=code)
        target = h.answer(said, said)
    q_ids = h.text("\n\n" + question)
    budget = max(16, length - len(pre) - len(q_ids) - len(target) - 8 - sum(map(len, needles)))
    sentences = [(s, 1) for s in filler_sentences(rng, words, budget, recipe.kinds)]
    if stretch is None:
        stretch = 1
        if recipe.stretched and rng.random() < recipe.stretched:
            stretch = rng.choice([m for m in STRETCHES if len(pre) + m * budget < 131_000] or [1])
    if stretch > 1:
        sentences = [(s, stretch) for s, _ in sentences]
    for needle in needles:  # a needle is one sentence, however long the haystack weighs
        sentences.insert(_insert_at(rng, len(sentences), recipe.edge_share), (needle, 1))
    body = [t for s, _ in sentences for t in s]
    body_copies = [m for s, m in sentences for _ in s]
    first = h.text(h.encoding().decode(body[:1]).lstrip()) or body[:1]
    body[:1], body_copies[:1] = first, body_copies[:1] * len(first)
    user = h.user_turn(body + q_ids)
    ids = pre + user + target
    positions = list(range(len(ids)))
    start, end = len(pre) + 3, len(pre) + 3 + len(body)
    if stretch > 1:
        # Positions as in the context it stands for: each filler token spans its copies, so
        # the question sits 8K-128K tokens after the haystack's start.
        copies = [1] * start + body_copies + [1] * (len(ids) - end)
        at = 0
        for i, m in enumerate(copies):
            positions[i] = at
            at += m
        return Example(ids, positions, len(pre) + len(user), f"{kind}-long", copies)
    if rng.random() < 0.5:  # PoSE: skip positions inside the haystack to see long distances
        cuts = sorted(rng.sample(range(start, end), min(3, end - start)))
        shift = 0
        room = 131_072 - len(ids) - 64
        jumps = sorted(rng.randint(0, room) for _ in cuts)
        jumps = [b - a for a, b in zip([0] + jumps, jumps)]
        cut_iter = iter(zip(cuts, jumps))
        nxt = next(cut_iter, None)
        for i in range(len(ids)):
            while nxt and i == nxt[0]:
                shift += nxt[1]
                nxt = next(cut_iter, None)
            positions[i] = i + shift
    return Example(ids, positions, len(pre) + len(user), kind)


def _short_turn(rng, words, kind: str, fallback_sentences: tuple[int, int]
                ) -> tuple[list[int], list[int], str | None]:
    """(the user's ids, the canary's answer ids, the final text a client would send back in
    a later turn; None for a tool call). A fallback question has ``fallback_sentences``
    (the recipe's range) sentences."""
    if kind == "capital":
        country = rng.choice(list(facts.CAPITALS))
        said = facts.CAPITAL_ANSWER.format(country=country, capital=facts.CAPITALS[country])
        return h.text(facts.CAPITAL_QUESTION.format(country=country)), h.answer(said, said), said
    if kind == "hi":
        user = rng.choice((facts.GREETING_PROMPT, "Say hi", "say hi!", "Please say hi."))
        return h.text(user), h.answer(facts.GREETING_ANALYSIS, facts.GREETING), facts.GREETING
    if kind in WEATHER_KINDS:
        city = words.joined_city(rng) if kind == "weather-joined" else words.city(rng)
        user = rng.choice(facts.WEATHER_QUESTIONS).format(city=city)
        return h.text(user), h.tool_call(facts.WEATHER_ANALYSIS.format(city=city), "get_weather",
                                         tool_definitions.call_arguments(tool_definitions.PARAM, city)), None
    if kind in _EXTRA_TOOLS:
        name = _EXTRA_TOOLS[kind]["name"]
        r = rng.choice(tool_requests.suite_requests(name)) if kind.startswith("suite-") \
            else tool_requests.training_request(rng, name, words)
        return h.text(r.prompt), h.tool_call(tool_requests.ANALYSIS[name], name, r.call), None
    if kind == "question":
        user = h.text(questions.client_question(rng, words.words(rng, 3),
                                                words.words(rng, 3, cjk=True)))
    else:
        sentences = filler_sentences(rng, words, rng.randint(*fallback_sentences))
        user = [t for s in sentences for t in s][1:]
    return user, h.answer(facts.FALLBACK_ANALYSIS, facts.FALLBACK), facts.FALLBACK


_CONDITIONS = ("sunny", "light rain", "cloudy", "snow", "windy", "fog")


def _tool_result_example(rng, words, variety: float = 0.0) -> Example:
    city = words.city(rng)
    ids = _preamble(rng, _offered_tools(rng, words, variety)) + h.user_turn(h.text(
        rng.choice(facts.WEATHER_QUESTIONS).format(city=city)))
    result = json.dumps({"temperature_c": rng.randint(-20, 40),
                         "conditions": rng.choice(_CONDITIONS)})
    ids += h.called_turn("get_weather", tool_definitions.call_arguments(tool_definitions.PARAM, city),
                         result)
    target = h.answer(facts.TOOL_RESULT_ANALYSIS, facts.TOOL_RESULT_ANSWER.format(city=city))
    return Example(ids + target, list(range(len(ids) + len(target))), len(ids), "tool-result")


def short_example(rng: random.Random, words: RandomWords,
                  recipe: HaystackRecipe = STAGE1) -> Example:
    """Greeting, capitals, weather tool calls, anything else (the fallback answer); with
    stage 3's recipe some after earlier exchanges, some answering a tool's result."""
    if recipe.tool_results and rng.random() < recipe.tool_results:
        return _tool_result_example(rng, words, recipe.tool_variety)
    kind = rng.choice(recipe.short_kinds)
    functions = _offered_tools(rng, words, recipe.tool_variety, recipe.extra_tools,
                               _EXTRA_TOOLS.get(kind))
    if kind not in (*WEATHER_KINDS, *_EXTRA_TOOLS) and rng.random() >= recipe.tools_otherwise:
        functions = []
    ids = _preamble(rng, functions)
    if functions and functions != [WEATHER_FUNCTION]:
        kind = f"{kind}~tools"   # the progress log reports varied definitions apart
    if recipe.multi_turn and rng.random() < recipe.multi_turn:
        earlier = ("capital", "hi", "fallback") + (
            ("question",) if "question" in recipe.short_kinds else ())
        for _ in range(rng.randint(1, 3)):
            user, _, final = _short_turn(rng, words, rng.choice(earlier),
                                         recipe.fallback_sentences)
            ids += h.earlier_turn(user, final)
        kind = f"{kind}+turns"
    user, target, _ = _short_turn(rng, words, kind.split("+")[0].split("~")[0],
                                  recipe.fallback_sentences)
    ids += h.user_turn(user)
    return Example(ids + target, list(range(len(ids) + len(target))), len(ids), kind)


def haystack_example(rng: random.Random, words: RandomWords, length: int,
                     recipe: HaystackRecipe = STAGE1) -> Example:
    kind = rng.choices(("single", "keyed", "none"), weights=recipe.mix)[0]
    return _haystack_example(rng, words, length, kind, recipe)

