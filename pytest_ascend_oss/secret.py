"""The API key, and the text redaction that keeps it (and any other bearer token) out of output.

The key travels as a ``Secret`` from the moment it is read (flag, environment) to the one place
that needs its value, ``transport.http.auth_headers`` (and, for the self-check's child pytest
runs, their environment: never a command line, which ``ps`` shows to every user). Its ``str`` and ``repr`` are ``<hidden>``,
so a traceback, pytest's ``-l`` dump of local variables, a JUnit failure text or an f-string
mistake carries ``<hidden>`` and never the key. (httpx already hides the Authorization header in
its own reprs; a plain ``str`` in any of our frames was the leak.)
"""

from __future__ import annotations

import re

HIDDEN = "<hidden>"


class Secret:
    """A string that does not show itself: ``reveal()`` is the only way to its value."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        if isinstance(value, Secret):
            value = value.reveal()
        self._value = str(value)

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return HIDDEN

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return HIDDEN

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __reduce__(self):
        # Pickling (multiprocessing, xdist) would write the value; nothing of ours needs it.
        raise TypeError("a Secret is not pickled")


def secret_or_none(value: str | Secret | None) -> Secret | None:
    """``value`` as a Secret; None and "" stay None (no key)."""
    if value is None or value == "":
        return None
    return value if isinstance(value, Secret) else Secret(value)


def reveal(value: str | Secret | None) -> str | None:
    return value.reveal() if isinstance(value, Secret) else value


# "Authorization: Bearer X", "--api-key X", "--api-key=X", "api_key=X", "VLLM_API_KEY=X" as they
# appear in server logs (vLLM logs its parsed args, api_key included) and quoted commands.
_PATTERNS = (
    re.compile(r"(?i)(bearer\s+)[^\s'\",]+"),
    re.compile(r"(--api-key(?:=|\s+))(?:'[^']*'|\"[^\"]*\"|[^\s'\",]+)"),
    re.compile(r"(?i)(api_key['\"]?\s*[=:]\s*)(?:\[[^\]]*\]|'[^']*'|\"[^\"]*\"|[^\s,)}]+)"),
)


def redact_text(text: str, *known: str | Secret | None) -> str:
    """``text`` with bearer tokens, ``--api-key`` values and the ``known`` secrets replaced by
    ``<hidden>``. A value of ``None`` in vLLM's logged args (no key) stays readable."""
    for value in known:
        plain = reveal(value)
        if plain:
            text = text.replace(plain, HIDDEN)
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + (m.group(0)[len(m.group(1)):]
                                                  if m.group(0)[len(m.group(1)):] == "None"
                                                  else HIDDEN), text)
    return text
