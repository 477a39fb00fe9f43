"""Haystack text for needle-in-a-haystack tests: procedural, seeded, checked clean.

Known NIAH suites fill the haystack with essays someone else wrote; this one writes its own
sentences from small grammars (English, or Chinese with ``language="zh"``), so the text is ours
to ship, the same for a seed on every machine, and guaranteed (``assert_clean``) never to contain
the needle's digits or the question's content words by accident.

Sentences are joined so that no token of the served model's tokenizer spans two of them
(each English sentence begins with a space, each Chinese one follows "。"), which lets token
counts be added sentence by sentence.
"""

from __future__ import annotations

import random
import re

_EN = {
    "who": ("the baker", "a sailor", "the old mayor", "a young poet", "the gardener", "my aunt",
            "the carpenter", "a traveller", "the librarian", "a shepherd", "the weaver",
            "the doctor", "a fisherman", "the singer", "our neighbour", "the miller"),
    "did": ("painted", "carried", "mended", "visited", "described", "followed", "planted",
            "cleaned", "admired", "sold", "borrowed", "measured", "polished", "watched"),
    "what": ("a blue fence", "the long canal", "an iron kettle", "the stone wall",
             "a basket of pears", "the village church", "a pair of boots", "the narrow lane",
             "a copper bell", "the orchard gate", "a woollen scarf", "the quiet pond",
             "a bundle of reeds", "the windmill", "a clay jar", "the chestnut tree"),
    "when": ("in the morning", "after the rain", "before supper", "during the fair",
             "at dusk", "on a windy day", "late in autumn", "early in spring",
             "while the bells rang", "under a grey sky"),
    "how": ("slowly", "with great care", "without a word", "for the first time", "once again",
            "with a friend", "in a hurry", "as always"),
}
_EN_SHAPES = (
    "{When}, {who} {did} {what}.",
    "{Who} {did} {what} {when}.",
    "{Who} {did} {what} {how}.",
    "{When}, {who} {did} {what} {how}.",
)
_ZH = {
    "who": ("老渔夫", "年轻的画家", "村里的铁匠", "图书管理员", "一位旅人", "邮递员", "磨坊主",
            "小学老师", "卖花的姑娘", "守林人", "船夫", "裁缝"),
    "did": ("修好了", "画下了", "搬走了", "打扫了", "看见了", "种下了", "卖掉了", "借来了",
            "擦亮了", "描述了"),
    "what": ("一扇蓝色的门", "河边的石桥", "一只铜壶", "一篮梨子", "古老的钟楼", "一双新鞋",
             "窄窄的小巷", "果园的木门", "一条羊毛围巾", "安静的池塘", "一座风车", "那棵栗子树"),
    "when": ("清晨", "雨后", "晚饭前", "集市上", "黄昏时", "秋天的傍晚", "初春", "钟声响起时"),
}
_ZH_SHAPES = ("{when}，{who}{did}{what}。", "{who}在{when}{did}{what}。")

_SYLLABLES = ("ka", "lo", "mi", "ne", "ru", "ta", "vo", "shi", "pe", "da", "gu", "fen", "zor",
              "bil", "tam", "qua", "wex", "jo", "ny", "hax")
# en/zh: grammatical filler; syllables: pronounceable nonsense, i.e. near-random tokens.
LANGUAGES = ("en", "zh", "syllables")


class HaystackError(ValueError):
    pass


def sentences(seed: int | str, count: int, language: str = "en") -> list[str]:
    """``count`` filler sentences, each ready to be concatenated (English ones start with a space)."""
    if language not in LANGUAGES:
        raise HaystackError(f"haystack language {language!r}: choose {', '.join(LANGUAGES)}")
    rng = random.Random(f"haystack-{language}-{seed}")
    out = []
    for _ in range(count):
        if language == "en":
            words = {k: rng.choice(v) for k, v in _EN.items()}
            text = rng.choice(_EN_SHAPES).format(
                **words, When=words["when"][0].upper() + words["when"][1:],
                Who=words["who"][0].upper() + words["who"][1:])
            out.append(" " + text)
        elif language == "syllables":
            words = ["".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(1, 3)))
                     for _ in range(rng.randint(5, 12))]
            out.append(" " + " ".join(words).capitalize() + ".")
        else:
            out.append(rng.choice(_ZH_SHAPES).format(**{k: rng.choice(v) for k, v in _ZH.items()}))
    return out


def content_words(question: str) -> set[str]:
    """The question's words that would give the answer away if the filler had them."""
    stop = {"what", "is", "the", "a", "an", "of", "for", "in", "to", "and", "which", "who"}
    return {w for w in re.findall(r"[a-z]+", question.lower()) if w not in stop and len(w) > 2}


def assert_clean(text: str, needle: str, question: str) -> None:
    """Refuse filler that contains the needle's digits or the question's content words."""
    digits = re.findall(r"\d+", needle)
    for d in digits:
        if d in text:
            raise HaystackError(f"haystack contains the needle's number {d}")
    words = set(re.findall(r"[a-z]+", text.lower()))
    leaked = content_words(question) & words
    if leaked:
        raise HaystackError(f"haystack contains the question's words {sorted(leaked)}")
