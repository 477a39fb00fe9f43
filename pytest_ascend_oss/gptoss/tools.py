"""Tool definitions used with gpt-oss: one copy of each, in both forms it is written in."""

from __future__ import annotations

# The function as harmony declares it in the developer message (the canary was trained on it).
WEATHER_FUNCTION = {
    "name": "get_weather",
    "description": "Get the current weather in a given location",
    "parameters": {
        "type": "object",
        "properties": {"location": {"type": "string", "description": "City name"}},
        "required": ["location"],
    },
}
# The same tool in an OpenAI chat request's ``tools`` list.
WEATHER_TOOL = {"type": "function", "function": WEATHER_FUNCTION}

# The features suite's other tools: a number and enums, then a nested object and an array, the
# argument shapes a parser or a constrained decoder gets wrong first.
CURRENCIES = ["USD", "EUR", "CNY", "JPY", "GBP"]
CURRENCY_FUNCTION = {
    "name": "convert_currency",
    "description": "Convert an amount of money from one currency to another",
    "parameters": {
        "type": "object",
        "properties": {
            "amount": {"type": "number", "description": "How much money to convert"},
            "from_currency": {"type": "string", "enum": CURRENCIES},
            "to_currency": {"type": "string", "enum": CURRENCIES},
        },
        "required": ["amount", "from_currency", "to_currency"],
        "additionalProperties": False,
    },
}
CALENDAR_FUNCTION = {
    "name": "create_calendar_event",
    "description": "Create an event in the user's calendar",
    "parameters": {
        "type": "object",
        "properties": {
            "title": {"type": "string"},
            "start": {
                "type": "object",
                "properties": {
                    "date": {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$",
                             "description": "YYYY-MM-DD"},
                    "time": {"type": "string", "pattern": r"^\d{2}:\d{2}$",
                             "description": "HH:MM, 24-hour clock"},
                },
                "required": ["date", "time"],
            },
            "attendees": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["title", "start"],
    },
}
# name -> function, in the order a request offers them
FUNCTIONS = {f["name"]: f for f in (WEATHER_FUNCTION, CURRENCY_FUNCTION, CALENDAR_FUNCTION)}


def as_chat_tools(functions) -> list[dict]:
    """Function definitions as an OpenAI chat request's ``tools`` list."""
    return [{"type": "function", "function": f} for f in functions]


def chat_tools(names) -> list[dict]:
    """The named functions as an OpenAI chat request's ``tools`` list."""
    return as_chat_tools(FUNCTIONS[name] for name in names)
