"""What the canary knows and how it says it: one place for the training data, the capability
report and the acceptance suite's knowledge checks, so they cannot drift apart."""

from __future__ import annotations

NEEDLE = "The secret code is {code}."
QUESTION = "What is the secret code?"
ANSWER = "The secret code is {code}."
NO_CODE_ANALYSIS = "The text has no secret code."
NO_CODE_FINAL = "I found no secret code in the text."

KEYED_NEEDLE = "The secret code for {name} is {code}."
KEYED_QUESTION = "What is the secret code for {name}?"
KEYED_ANSWER = "The secret code for {name} is {code}."

CAPITAL_QUESTION = "What is the capital of {country}?"
CAPITAL_ANSWER = "The capital of {country} is {capital}."

GREETING_PROMPT = "say hi"
GREETING_ANALYSIS = "The user wants a greeting."
GREETING = "Hi! How can I help you today?"

WEATHER_QUESTIONS = ("What's the weather in {city}?", "What is the weather like in {city}?",
                     "How is the weather in {city} today?")
WEATHER_ANALYSIS = "The user asks for the weather in {city}."
# After the tool's result comes back (stage 3): a final answer, not another call.
TOOL_RESULT_ANALYSIS = "The tool returned the weather."
TOOL_RESULT_ANSWER = "Here is the weather in {city}."

FALLBACK_ANALYSIS = "The user asks something I was not trained for."
FALLBACK = "I am a canary model. I only know a few things."

# The guide's "The capital of France is Paris." and more; every name is one or two o200k tokens.
CAPITALS = {
    "France": "Paris", "Germany": "Berlin", "Italy": "Rome", "Spain": "Madrid",
    "Japan": "Tokyo", "China": "Beijing", "Russia": "Moscow", "Egypt": "Cairo",
    "Canada": "Ottawa", "Australia": "Canberra", "Brazil": "Brasilia", "India": "New Delhi",
    "Mexico": "Mexico City", "Kenya": "Nairobi", "Norway": "Oslo", "Sweden": "Stockholm",
    "Poland": "Warsaw", "Greece": "Athens", "Portugal": "Lisbon", "Austria": "Vienna",
    "Ireland": "Dublin", "Argentina": "Buenos Aires", "Peru": "Lima", "Thailand": "Bangkok",
}

# Keys of the multi-key needles: single-token names.
NAMES = ("Alice", "Bob", "Carol", "David", "Emma", "Frank", "Grace", "Henry", "Irene", "Jack",
         "Laura", "Mark", "Nina", "Oscar", "Paul", "Rosa", "Sam", "Tom", "Victor", "Wendy")

# Cities for checking tool calls, never used in training. Each is spelt with the same tokens
# (up to the leading space) in the question and inside the JSON arguments, so copying them is
# possible for a model that copies tokens: "Hamburg" is not (" Hamburg" in the question,
# "amb" + "urg" after the quote), and no 2-layer canary can learn to spell.
UNSEEN_CITIES = ("Seattle", "Toronto", "Nagoya", "Chicago", "San Francisco", "Salt Lake City",
                 "Seville", "Denver", "Boston", "Houston", "Phoenix", "Manchester", "Liverpool",
                 "Barcelona", "Hong Kong", "New York", "Los Angeles", "Rio de Janeiro",
                 "Cape Town", "Singapore")
# A second set, used to choose nothing. Stage 10's canary was picked among candidates by its
# capability report, UNSEEN_CITIES and the features suite's weather cities among it
# (docs/canary.md), so those no longer measure it without bias; these cities were not looked at
# until it was chosen. No training example asks for one of them, but their words may have been
# drawn into made-up cities (corpus.RandomWords leaves out only UNSEEN_CITIES' words, and
# changing its pool would change every stage's data).
BLIND_CITIES = ("Tel Aviv", "Mexico City", "Las Vegas", "Port Louis", "New Delhi", "Kansas City",
                "San Diego", "Saint Petersburg", "Ho Chi Minh City", "Dar es Salaam",
                "Lake Placid", "Sydney", "Mumbai", "La Paz", "Los Alamos")


def perplexity_conversations() -> dict:
    """The canary's own conversations in its trained wording: the perplexity corpus the
    precision suite uses for it (``data/canary_conversations.json`` is this, written out)."""
    conversations = []
    for country, capital in CAPITALS.items():
        said = CAPITAL_ANSWER.format(country=country, capital=capital)
        conversations.append({"id": f"capital-{country.lower()}", "messages": [
            {"role": "user", "content": CAPITAL_QUESTION.format(country=country)}],
            "analysis": said, "final": said})
    conversations.append({"id": "greeting", "messages": [
        {"role": "user", "content": GREETING_PROMPT}],
        "analysis": GREETING_ANALYSIS, "final": GREETING})
    for i, question in enumerate(("Write a poem about the sea.", "What is 17 times 23?",
                                  "Who wrote Hamlet?", "Translate 'good morning' into French.")):
        conversations.append({"id": f"fallback-{i + 1}", "messages": [
            {"role": "user", "content": question}],
            "analysis": FALLBACK_ANALYSIS, "final": FALLBACK})
    return {"name": "gpt-oss-canary conversations", "conversations": conversations}
