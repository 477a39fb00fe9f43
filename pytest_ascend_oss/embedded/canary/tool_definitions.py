"""Weather tools as clients write them: varied wording for training, held-out ones for checking.

A client that offers the canary a ``get_weather`` tool writes its own description and names
its own parameter. A canary trained on one fixed definition answered a differently worded
``get_weather`` with its fallback ("I am a canary model..."): it had learnt the developer
message's exact tokens, not the tool. Training draws the description, the parameter's
description, optional extra parameters (in either order) and zero to three other tools offered
beside it; the call names ``get_weather`` and copies the city from the question.
``held_out_definitions`` are wordings and companion tools the generator never produces, for
``ascend-oss capabilities`` to report the rate on.

The function's name stays ``get_weather`` (how the features suite and OpenAI's examples name
it; choosing "the right one" among several tools is choosing it by that name) and the place
parameter stays ``location``. Writing a parameter named otherwise means copying a name from
the schema, where nothing before it in the call matches what precedes it there, so the
canary's induction heads cannot find it; its two layer-1 heads are both induction heads. Tried
(docs/canary.md): with the name drawn from PARAMS, 170 steps wrote "location" every time
(exact 0.05). ``renamed_definitions`` keeps measuring it.
"""

from __future__ import annotations

import json
import random

from ...gptoss import harmony as h
from ...gptoss.tools import CALENDAR_FUNCTION, CURRENCY_FUNCTION

_VERBS = ("Get", "Look up", "Fetch", "Return", "Retrieve", "Find", "Check", "Report", "Show",
          "Gives")
_OBJECTS = ("the current weather", "current weather conditions", "the weather", "today's weather",
            "the weather forecast", "weather information", "temperature and conditions",
            "live weather data")
_TAILS = ("in a given location", "for a city", "for the place the user names", "at a location",
          "", "for any town", "for a given city", "in the requested place", "anywhere")
PARAM = "location"
# Other names clients give the place (renamed_definitions); the canary is not trained on them.
RENAMED_PARAMS = ("city", "loc", "site", "placename", "city_or_town")
_PARAM_DESCRIPTIONS = ("City name", "The city, e.g. Paris", "Where to get the weather for",
                       "A city or town", "Name of the place", "The location to look up", None)
# Companion tools offered beside the weather tool in training (one to three of them).
_COMPANIONS = (
    ("send_email", "Send an email to someone", {"to": "string", "subject": "string"}),
    ("get_time", "Get the current time in a time zone", {"timezone": "string"}),
    ("search_web", "Search the web for a query", {"query": "string", "limit": "integer"}),
    ("book_table", "Book a table at a restaurant", {"restaurant": "string", "people": "integer"}),
    ("get_stock_price", "Get the latest price of a stock", {"ticker": "string"}),
    ("translate_text", "Translate text into another language", {"text": "string", "target": "string"}),
    ("set_alarm", "Set an alarm", {"time": "string"}),
    ("play_music", "Play a song or an artist", {"song": "string"}),
)


def _function(name: str, description: str | None, properties: dict, required: list[str]) -> dict:
    f = {"name": name, "parameters": {"type": "object", "properties": properties,
                                      "required": required}}
    if description:
        f["description"] = description
    return f


def _companion(spec) -> dict:
    name, description, params = spec
    return _function(name, description, {k: {"type": t} for k, t in params.items()}, list(params)[:1])


def weather_function(rng: random.Random, words=None, param: str = PARAM) -> dict:
    """A ``get_weather`` definition in a wording drawn at random; ``param`` names the place."""
    if rng.random() < 0.15:
        description = None
    elif words is not None and rng.random() < 0.3:  # free words around "weather"
        enc = h.encoding()
        filler = [enc.decode([rng.choice(words.latin)]) for _ in range(rng.randint(1, 5))]
        description = ("Weather" + "".join(filler)).strip()
    else:
        description = " ".join(x for x in (rng.choice(_VERBS), rng.choice(_OBJECTS),
                                           rng.choice(_TAILS)) if x)
    place = {"type": "string"}
    if (said := rng.choice(_PARAM_DESCRIPTIONS)) is not None:
        place["description"] = said
    properties = {param: place}
    if rng.random() < 0.3:
        properties["unit"] = {"type": "string", "enum": rng.choice((["celsius", "fahrenheit"],
                                                                      ["c", "f"], ["metric", "imperial"]))}
    if rng.random() < 0.15:
        properties["days"] = {"type": "integer", "description": "How many days ahead"}
    if rng.random() < 0.5:
        properties = dict(reversed(list(properties.items())))  # the place need not come first
    return _function("get_weather", description, properties, [param])


def training_tools(rng: random.Random, words=None) -> list[dict]:
    """The functions a training request offers, in order; the weather tool's place is PARAM."""
    functions = [weather_function(rng, words)]
    for spec in rng.sample(_COMPANIONS, rng.choice((0, 0, 1, 2, 3))):
        functions.insert(rng.randint(0, len(functions)), _companion(spec))
    return functions


def call_arguments(param: str, city: str) -> str:
    """The call's arguments exactly as the canary writes them."""
    return json.dumps({param: city}, ensure_ascii=False)


_HELD_OUT = (   # (description, the place parameter's description, other parameters)
    ("Weather lookup service: returns temperature and sky conditions for the requested city.",
     "Which city to report on", {}),
    ("Tells you what it is like outside somewhere.", None,
     {"units": {"type": "string", "enum": ["C", "F"]}}),
    (None, "e.g. Oslo, Norway", {}),
    ("Current meteorological observations for a named place", "Place name",
     {"include_wind": {"type": "boolean"}}),
    ("Outside, right now", None, {}),
)


def _offered(i: int, function: dict) -> list[dict]:
    """``function`` among the features suite's currency and calendar tools (offered beside the
    weather tool in training only since stage 7; the weather wordings stay held out): alone,
    with one, or with both, at varying positions."""
    tools = [[], [CURRENCY_FUNCTION], [CALENDAR_FUNCTION, CURRENCY_FUNCTION]][i % 3]
    tools = list(tools)
    tools.insert(i % (len(tools) + 1), function)
    return tools


def held_out_definitions(param: str = PARAM) -> list[tuple[list[dict], str]]:
    """Tool lists the generator never produces: new wordings of the weather tool, beside the
    features suite's currency and calendar tools."""
    out = []
    for i, (description, said, others) in enumerate(_HELD_OUT):
        place = {"type": "string", **({"description": said} if said else {})}
        function = _function("get_weather", description, {param: place, **others}, [param])
        out.append((_offered(i, function), param))
    return out


def renamed_definitions() -> list[tuple[list[dict], str]]:
    """The held-out wordings with the place parameter named as other clients name it."""
    return [held_out_definitions(name)[i] for i, name in enumerate(RENAMED_PARAMS)]
