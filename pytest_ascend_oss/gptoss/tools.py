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
