"""Questions as clients ask them, for the canary's fallback answer.

The canary answers anything it was not trained for with its fallback (facts.FALLBACK). Stages 1
and 2 learnt that from filler sentences only, and every fine-tune since answered real questions
(arithmetic, code, "summarize this", Chinese requests) on thin margins: the float32 greedy
trajectory on the precision suite's prompts led its rival by under 0.1 logit on a tenth of them,
and bf16 serving parted from float32 there (docs/canary.md, stage 6). These are the shapes of
such requests, drawn from templates and small vocabularies written here, in English and Chinese,
a third of the topic slots filled with random vocabulary words so no template is learnt by
heart.

Never the precision suite's prompts: the gate must stay able to fail a canary, so its prompts
are held out (unit test ``test_client_questions_hold_out_the_precision_prompts``).
"""

from __future__ import annotations

import random

_NAMES = ("Tom", "Maria", "Li Wei", "Sam", "Priya", "Jonas", "Aiko", "Omar", "Lena", "Diego")
_THINGS = ("apples", "books", "stamps", "marbles", "tickets", "cookies", "coins", "shirts",
           "bottles", "eggs")
_LANGS = ("Python", "Java", "Go", "Rust", "TypeScript", "C++", "Ruby", "Kotlin", "SQL", "Lua")
_CODE_TASKS = ("sorts a list of numbers", "checks whether a year is a leap year",
               "parses a date string", "merges two sorted arrays", "counts the vowels in a word",
               "reads a JSON file", "finds the largest element of an array",
               "converts Celsius to Fahrenheit", "flattens a nested list",
               "validates an email address", "computes a factorial recursively",
               "splits a sentence into words")
_TOPICS = ("machine learning", "photosynthesis", "a black hole", "compound interest",
           "the stock market", "climate change", "blockchain", "the immune system",
           "a neural network", "quantum computing", "supply and demand", "plate tectonics",
           "the French Revolution", "a compiler", "public key cryptography", "gravity")
_PAIRS = (("TCP", "UDP"), ("a virus", "a bacterium"), ("weather", "climate"),
          ("RAM", "a hard disk"), ("a process", "a thread"), ("speed", "velocity"),
          ("stocks", "bonds"), ("HTML", "CSS"), ("a lake", "a sea"), ("mitosis", "meiosis"))
_FORMS = ("haiku", "limerick", "short essay", "cover letter", "birthday message", "speech",
          "news headline", "recipe", "diary entry", "song chorus", "toast", "tweet")
_SUBJECTS = ("the ocean", "a rainy Monday", "friendship", "a lost cat", "the first day of school",
             "mountains in winter", "a city at night", "coffee", "an old bicycle", "the moon")
_OPS = (("+", "plus"), ("-", "minus"), ("*", "times"), ("/", "divided by"))

_ZH_NAMES = ("小李", "王芳", "张伟", "小华", "刘洋", "陈静")
_ZH_THINGS = ("苹果", "铅笔", "本书", "颗糖", "张邮票", "个鸡蛋")
_ZH_TOPICS = ("机器学习", "光合作用", "区块链", "量子计算", "通货膨胀", "免疫系统", "万有引力",
              "操作系统", "数据库索引", "神经网络", "汇率", "温室效应")
_ZH_PAIRS = (("进程", "线程"), ("天气", "气候"), ("股票", "债券"), ("病毒", "细菌"),
             ("内存", "硬盘"), ("速度", "加速度"))
_ZH_SUBJECTS = ("大海", "秋天的树叶", "友谊", "城市的夜晚", "一杯茶", "故乡的河", "毕业", "雪")
_ZH_TASKS = ("排序一个列表", "计算阶乘", "判断一个数是不是质数", "统计单词出现的次数",
             "反转一个链表", "读取一个文本文件")
_ZH_EVENTS = ("公司将于下周调整上班时间,请员工留意通知。", "图书馆周末延长开放时间,方便学生自习。",
              "本市今年新建了三座公园,市民休闲的地方更多了。", "学校食堂推出了新的菜单,价格保持不变。",
              "地铁二号线将于明年通车,沿线居民出行会更方便。", "博物馆举办了古代陶器展览,吸引了很多游客。")


def _slot(rng: random.Random, choices: tuple[str, ...], words: list[str]) -> str:
    """A vocabulary entry, or a third of the time a random word of the vocabulary."""
    if words and rng.random() < 1 / 3:
        return rng.choice(words)
    return rng.choice(choices)


def _numbers(rng: random.Random) -> tuple[int, int, int]:
    return rng.randint(2, 999), rng.randint(2, 99), rng.randint(2, 40)


def english(rng: random.Random, words: list[str] = ()) -> str:
    a, b, c = _numbers(rng)
    sym, said = rng.choice(_OPS)
    name, things = rng.choice(_NAMES), rng.choice(_THINGS)
    lang, task = rng.choice(_LANGS), rng.choice(_CODE_TASKS)
    topic = _slot(rng, _TOPICS, words)
    x, y = rng.choice(_PAIRS)
    form, subject = rng.choice(_FORMS), _slot(rng, _SUBJECTS, words)
    return rng.choice((
        f"What is {a} {sym} {b}?", f"Calculate {a} {said} {b}.", f"How much is {b}% of {a}?",
        f"{name} has {a} {things} and gives away {b}. How many are left?",
        f"A car drives {a} km in {c} hours. What is its average speed?",
        f"If {c} {things} cost {b} dollars, how much do {a} {things} cost?",
        f"Write a {lang} function that {task}.", f"How do I write code that {task} in {lang}?",
        f"Can you review my {lang} code? It {task} but it is slow.",
        f"Explain {topic} in simple terms.", f"What is {topic}?", f"Tell me about {topic}.",
        f"What is the difference between {x} and {y}?", f"Why does {topic} matter?",
        f"Write a {form} about {subject}.", f"Please write a {form} for my friend {name}.",
        f"Summarize {topic} in three sentences.", f"Give me five facts about {topic}.",
        f"Translate 'good morning, {name}' into French.", f"Is {a} an even number?",
        f"How many days are there in {c} weeks?", f"Convert {a} minutes into hours.",
        f"Summarize: {name} bought {c} {things} on Monday and sold {b} of them on Friday.",
        f"Help me plan a {c}-day trip to see {subject}.",
    ))


def chinese(rng: random.Random, words: list[str] = ()) -> str:
    a, b, c = _numbers(rng)
    name, thing = rng.choice(_ZH_NAMES), rng.choice(_ZH_THINGS)
    topic = _slot(rng, _ZH_TOPICS, words)
    x, y = rng.choice(_ZH_PAIRS)
    subject, task = rng.choice(_ZH_SUBJECTS), rng.choice(_ZH_TASKS)
    lang = rng.choice(_LANGS)
    return rng.choice((
        f"{a}加{b}等于多少?", f"请计算 {a} × {c} - {b}。", f"{a}除以{c}的余数是多少?",
        f"{name}有{a}{thing},送给朋友{b}{thing},还剩多少?",
        f"一辆车{c}小时行驶了{a}公里,平均速度是多少?",
        f"用 {lang} 写一个{task}的程序。", f"怎样用 {lang} {task}?",
        f"什么是{topic}?", f"请简单介绍一下{topic}。", f"{topic}有什么用?",
        f"{x}和{y}有什么不同?", f"写一首关于{subject}的小诗。", f"以{subject}为题写一段话。",
        f"请总结下面这段话:{rng.choice(_ZH_EVENTS)}", f"概括一下:{rng.choice(_ZH_EVENTS)}",
        f"给我讲一个关于{subject}的故事。", f"{c}个星期一共有多少天?",
    ))


def client_question(rng: random.Random, latin_words: list[str] = (),
                    cjk_words: list[str] = ()) -> str:
    """One request the canary does not know, English two times in three."""
    if rng.random() < 2 / 3:
        return english(rng, latin_words)
    return chinese(rng, cjk_words)
