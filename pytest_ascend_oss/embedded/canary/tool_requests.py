"""Currency and calendar requests for the canary, with the call a copying model can write.

The features suite offers three tools: ``get_weather``, ``convert_currency`` (a number and two
enums) and ``create_calendar_event`` (a nested object and an array). The canary answers by
copying tokens of the question into the call's JSON (its layer-1 heads are induction heads,
circuit.py); it cannot turn "euros" into ``EUR`` or "December 10" into ``2026-12-10``. So the
requests it is trained and checked on write each value as the call writes it ("Convert 250 EUR
to USD.", "... on 2026-12-03 at 10:00 with Alice and Bob."), and the call is written compact,
as gpt-oss writes JSON: in ``{"from_currency":"EUR","to_currency":"USD"}`` the token before
each code is ``":"`` and the two before it are ``from``/``to`` + ``_currency``, which the
canary's two-back view can tell apart; with ``": "`` the two slots look the same to it.

A value is asked only if its tokens in the question and in the call are the same up to the
first one's leading space (``copyable``), as corpus.copyable does for cities: " JPY" is
" J" + "PY" in a question and one token ``JPY`` in the call, so neither training nor a check
asks for a JPY value (a request that is not copyable is drawn again).

The ``_TRAINING`` templates make training data (``training_request``); the ``_HELD_OUT`` ones
are never trained on and word the checks (``held_out_requests``), with titles and people
drawn apart from training's. Stage 9 (not shipped, docs/canary.md) learnt the features
suite's own copyable cases by heart (``suite_requests``, as the canary learnt the capitals), so
the held-out wordings, titles and people are apart from those too: the checks stay unseen
requests for any canary trained so.
"""

from __future__ import annotations

import functools
import json
import random
from dataclasses import dataclass

from ...gptoss import harmony as h
from ...gptoss.tools import CURRENCIES

CURRENCY_ANALYSIS = "The user wants to convert money."
CALENDAR_ANALYSIS = "The user wants a calendar event."
# tool -> the analysis the canary writes before calling it
ANALYSIS = {"convert_currency": CURRENCY_ANALYSIS, "create_calendar_event": CALENDAR_ANALYSIS}

# The amount is the only number, after a lone space token; the source code follows it and the
# target code follows the preposition.
_CURRENCY_TRAINING = (
    "Convert {amount} {src} to {dst}.", "convert {amount} {src} into {dst}",
    "How much is {amount} {src} in {dst}?", "Please change {amount} {src} to {dst}.",
    "What is {amount} {src} in {dst}?", "Exchange {amount} {src} for {dst}.",
    "{amount} {src} to {dst}, please.", "I need {amount} {src} converted to {dst}.",
    "Can you convert {amount} {src} to {dst}?", "What do I get for {amount} {src} in {dst}?",
    "How many {dst} is {amount} {src}?", "把 {amount} {src} 换成 {dst}",
    "{amount} {src} 等于多少 {dst}?",
)
# Until stage 9 learnt the features suite's cases by heart these were the suite's wordings; now
# they are wordings neither training nor the suite's cases use (tested).
_CURRENCY_HELD_OUT = (
    "Could you tell me what {amount} {src} comes to in {dst}?",
    "I want to swap {amount} {src} for {dst}.", "Work out {amount} {src} in {dst}.",
    "{amount} {src} is how much in {dst}?", "请把 {amount} {src} 转换为 {dst}。",
)
_CALENDAR_TRAINING = (
    "Add '{title}' to my calendar on {date} at {time}{people}.",
    "Schedule '{title}' on {date} at {time}{people}.",
    "Create an event '{title}' on {date} at {time}{people}.",
    "Put '{title}' in my calendar at {time} on {date}{people}.",
    "Book '{title}' on {date} at {time}{people}, please.",
    "Please add an event called '{title}' at {time} on {date}{people}.",
    "New calendar event '{title}' on {date} at {time}{people}.",
    "在日历上添加 '{title}' on {date} at {time}{people}。",
)
_CALENDAR_HELD_OUT = (
    "Make a calendar entry '{title}' for {date} at {time}{people}.",
    "Pencil in '{title}' at {time} on {date}{people}.",
    "Set up an event named '{title}' on {date} at {time}{people}.",
    "Block my calendar for '{title}' on {date} at {time}{people}.",
    "请在日历里加上 '{title}' on {date} at {time}{people}。",
)
TEMPLATES = _CURRENCY_TRAINING + _CURRENCY_HELD_OUT + _CALENDAR_TRAINING + _CALENDAR_HELD_OUT
_TITLE_WORDS = ("Team", "sync", "Budget", "review", "Dentist", "Lunch", "Standup", "Weekly",
                "planning", "Design", "Interview", "Yoga", "Call", "Demo", "Retro", "Board")
# Held-out checks use their own titles and people, so a right call is copied, not remembered.
_HELD_OUT_TITLES = ("Family dinner", "Project kickoff", "Study group", "Wine tasting",
                    "Coffee chat", "Release party", "Garden party", "Movie night")
_PEOPLE = ("Alice", "Bob", "Carol", "David", "Emma", "Frank", "Grace", "Henry", "Jack", "Sam")
# Each spelt by one token after a space and after '["' alike (Nina, Rosa and Wendy are not).
_HELD_OUT_PEOPLE = ("Kevin", "Linda", "Susan", "Robert", "Thomas", "Peter", "Helen", "Lucas",
                    "Anna", "James", "Daniel", "Marco", "Sara")


@dataclass(frozen=True)
class Request:
    tool: str
    prompt: str
    arguments: dict     # what the call must carry
    call: str           # the arguments exactly as the canary writes them (compact JSON)


def compact(arguments: dict) -> str:
    return json.dumps(arguments, ensure_ascii=False, separators=(",", ":"))


def _spelt(text: str) -> list[str]:
    enc = h.encoding()
    return [enc.decode([i]) for i in enc.encode(text)]


def copyable(prompt: str, call: str, value: str) -> bool:
    """Whether ``value``'s tokens in ``call`` appear in ``prompt`` as a whole run (not part of
    a longer word or number), the same up to the first one's leading space, so a model that
    copies tokens can write it."""
    in_call = _value_tokens(_spelt(call), value)
    if not in_call or in_call[0].startswith(" "):
        return False
    return copied_at(_spelt(prompt), in_call) is not None


def copied_at(asked: list[str], in_call: list[str]) -> int | None:
    """Where the tokens ``in_call`` (a value as the call spells it) first stand in ``asked``
    (a question's tokens) as a whole run, the first one maybe with a leading space; or None."""
    n = len(in_call)
    for j in range(len(asked) - n + 1):
        run = [asked[j].lstrip(" ")] + asked[j + 1:j + n]
        before = asked[j - 1] if j else " "
        after = asked[j + n] if j + n < len(asked) else " "
        if run == in_call and not after[0].isalnum() and \
                (asked[j].startswith(" ") or not before[-1].isalnum()):
            return j
    return None


def _value_tokens(tokens: list[str], value: str) -> list[str] | None:
    """The run of ``tokens`` that spells ``value`` exactly, or None."""
    for i in range(len(tokens)):
        text = ""
        for j in range(i, len(tokens)):
            text += tokens[j]
            if text == value:
                return tokens[i:j + 1]
            if not value.startswith(text):
                break
    return None


def _amount(rng: random.Random) -> str:
    whole = rng.choice((rng.randint(1, 99), rng.randint(100, 9999), rng.randint(10000, 250000)))
    if rng.random() < 0.3:   # decimals whose last digit is not 0, so JSON writes them as asked
        return f"{whole}.{rng.choice((rng.randint(1, 9), rng.randint(1, 99)))}".rstrip("0")
    return str(whole)


def currency_request(rng: random.Random, templates=_CURRENCY_TRAINING) -> Request:
    src, dst = rng.sample(CURRENCIES, 2)
    amount = _amount(rng)
    prompt = rng.choice(templates).format(amount=amount, src=src, dst=dst)
    arguments = {"amount": json.loads(amount), "from_currency": src, "to_currency": dst}
    call = f'{{"amount":{amount},"from_currency":"{src}","to_currency":"{dst}"}}'
    return Request("convert_currency", prompt, arguments, call)


def _date(rng: random.Random) -> str:
    return f"{rng.randint(2025, 2028)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"


def _time(rng: random.Random) -> str:
    return f"{rng.randint(0, 23):02d}:{rng.choice((0, 15, 30, 45, rng.randint(0, 59))):02d}"


def _people_phrase(people: list[str]) -> str:
    if not people:
        return ""
    if len(people) == 1:
        return f" with {people[0]}"
    return " with " + ", ".join(people[:-1]) + f" and {people[-1]}"


def calendar_request(rng: random.Random, templates=_CALENDAR_TRAINING, titles=None,
                     people=_PEOPLE, words=None) -> Request:
    """``words`` (corpus.RandomWords) puts random vocabulary words in half of the titles."""
    if titles is not None:
        title = rng.choice(titles)
    elif words is not None and rng.random() < 0.5:
        title = " ".join(w.capitalize() if i == 0 else w
                         for i, w in enumerate(words.words(rng, rng.randint(1, 3))))
    else:
        title = " ".join(rng.sample(_TITLE_WORDS, rng.randint(1, 3)))
    n = rng.choice((0, 1, 1, 2, 2, 3))
    if words is not None and rng.random() < 0.5:   # any capitalised word can be a name
        who = [h.encoding().decode([rng.choice(words.capitalized)]).strip() for _ in range(n)]
    else:
        who = rng.sample(people, n)
    date, time = _date(rng), _time(rng)
    prompt = rng.choice(templates).format(title=title, date=date, time=time,
                                          people=_people_phrase(who))
    arguments = {"title": title, "start": {"date": date, "time": time}}
    if who:
        arguments["attendees"] = who
    return Request("create_calendar_event", prompt, arguments, compact(arguments))


def leaves(arguments: dict, slot: str = "") -> list[tuple[str, str]]:
    """(slot, text) of every string and number a call carries, in the call's order: slots as
    ``amount``, ``start.time``, ``attendees[0]``; numbers as JSON writes them."""
    out: list[tuple[str, str]] = []
    items = arguments.items() if isinstance(arguments, dict) else enumerate(arguments)
    for k, v in items:
        name = f"{slot}[{k}]" if isinstance(k, int) else f"{slot}.{k}" if slot else k
        if isinstance(v, (dict, list)):
            out += leaves(v, name)
        else:
            out.append((name, v if isinstance(v, str) else json.dumps(v)))
    return out


def request_copyable(r: Request) -> bool:
    """Every string and number the call carries can be copied from the prompt."""
    return all(copyable(r.prompt, r.call, text) for _, text in leaves(r.arguments))


def _copyable_draw(make) -> Request:
    """``make()`` until the request it gives is copyable."""
    while True:
        r = make()
        if request_copyable(r):
            return r


def training_request(rng: random.Random, tool: str, words=None) -> Request:
    """A copyable request for ``tool`` in a training wording (one that is not copyable, such as
    a JPY amount, is drawn again: the canary could only learn to guess it)."""
    if tool == "convert_currency":
        return _copyable_draw(lambda: currency_request(rng))
    return _copyable_draw(lambda: calendar_request(rng, words=words))


def held_out_requests(n: int, seed: int = 2026) -> list[Request]:
    """``n`` requests per tool in wordings, titles and people never trained on, each copyable."""
    rng = random.Random(seed)
    currency = [_copyable_draw(lambda: currency_request(rng, _CURRENCY_HELD_OUT))
                for _ in range(n)]
    return currency + [_copyable_draw(lambda: calendar_request(
        rng, _CALENDAR_HELD_OUT, _HELD_OUT_TITLES, _HELD_OUT_PEOPLE)) for _ in range(n)]


@functools.cache   # drawn for every stage-9 example: read the case file once
def suite_requests(tool: str) -> tuple[Request, ...]:
    """The features suite's cases for ``tool`` that a copying model can answer (those not
    marked ``converts``, as the canary profile runs them; test_tool_requests checks each mark
    against ``request_copyable``), with the call the canary writes: stage 9 learns these by
    heart."""
    from ...suites.features.tool_calling import load_cases

    return tuple(Request(c.tool, c.prompt, c.expect, compact(c.expect))
                 for c in load_cases([tool], converting=False))
