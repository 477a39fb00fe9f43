"""The faults the self-check puts between the suites and a healthy server, and the criteria
each one must flip.

A fault is what a broken deployment looks like on the wire: late first tokens, slow decode,
wrong tokens, a stream that stops, server errors, a memorised answer, an answer left in the
analysis channel, broken tool-call JSON, harmony markup in the answer, usage that overstates,
greedy answers that wobble, a conversation whose history is dropped. Each is applied by
``proxy.py`` to the real server's real responses (``Rewriter`` below holds the rewriting, so the
project's tests check it without a network), or, for the embedded default only, by launching
a broken variant of the server itself (perturbed weights, a short context limit).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..transport.vllm import REASONING_FIELDS

# Injected HTTP 500s come in bursts: requests 5, 6 and 7 of every 10 (a server that fails
# for a while, then recovers, is what retries hide and what an error-rate gate must see).
BURST = range(4, 7)
BURST_PERIOD = 10
# A stream is cut after this many token-carrying events, before [DONE].
CUT_AFTER_EVENTS = 2
HARMONY_LEAK = "<|channel|>final<|message|>"
FIXED_ANSWER = "The secret code is 7842."
STAND_IN = "say hi"  # questions-shuffled: what the first request is asked instead
OTHER_MODEL = "gpt-oss-120b"  # model-misnamed: who the answers say they come from
CUT = object()  # what ``Rewriter.event`` returns when the stream must end here
# greedy-jitter: one whole answer in this many has its last token id changed (three identical
# greedy requests in a row then always meet one).
JITTER_EVERY = 3


@dataclass(frozen=True)
class Fault:
    name: str
    does: str                     # one line: what a user would see from such a server
    flips: tuple[str, ...]        # criteria ("suite::test[param]") that must fail under it
    launched: dict = field(default_factory=dict)  # embedded-server variant; empty: a proxy
    # The launched variant's place: "" for the server under test; else the features variant it
    # stands in for ("eager", "pp", "chunked_prefill": given as --<name>-url beside the healthy
    # server under test), started with that variant's flags as the acceptance run starts it.
    # Such a fault is judged against a control: the healthy variant, launched the same way.
    variant: str = ""


FAULTS = (
    Fault("first-token-delay", "every first token held back twice the largest TTFT bound",
          ("performance::test_guide_target[TTFT]", "long_context::test_needle_ttft")),
    Fault("token-delay", "every streamed event spaced by twice the TPOT bound",
          # 63 events x 2 x TPOT bound per answer caps QPS at concurrency / that and throughput
          # at output tokens x QPS: far under both targets in every profile
          ("performance::test_guide_target[TPOT]",
           "performance::test_guide_target[QPS]",
           "performance::test_guide_target[output throughput]",
           "performance::test_capacity_at_the_guide_targets")),
    Fault("altered-tokens", "every generated token replaced (text and ids)",
          ("precision::test_token_match_rate", "precision::test_rouge_l",
           "long_context::test_needle_recalled", "long_context::test_random_code_recalled",
           "long_context::test_keyed_needle_recalled", "long_context::test_recall_rate",
           "smoke::test_say_hi_greets",
           "smoke::test_capital_of_france_as_in_the_guide")),
    Fault("text-off-ids", "completions text rotated, its token ids left as they are",
          ("precision::test_text_is_what_the_ids_say", "precision::test_rouge_l")),
    Fault("usage-inflated", "every answer's usage claims one completion token more than it "
          "sent", ("smoke::test_usage_is_consistent",
                   # the load's answers then claim one token more than asked for, and more
                   # than the server's own /metrics counted
                   "performance::test_output_tokens_are_exactly_as_requested",
                   "performance::test_server_counters_agree_with_the_client")),
    Fault("prefix-cache-hits", "every answer's usage reports half its prompt served from the "
          "prefix cache", ("performance::test_no_prompt_tokens_came_from_the_prefix_cache",)),
    Fault("model-misnamed", f"every answer names {OTHER_MODEL!r} (a gateway routing to "
          "another deployment)", ("smoke::test_served_model_is_listed",)),
    Fault("greedy-jitter", f"every {JITTER_EVERY}rd whole answer's last token id changed",
          ("smoke::test_repeated_greedy_requests_are_identical",)),
    Fault("forgetful-history", "chat requests reach the server with their last message only",
          ("features::test_three_turn_conversation",)),
    Fault("questions-shuffled", "every chat question swapped for the one asked before it",
          ("accuracy::test_accuracy_reaches_the_published_figure",)),
    Fault("stream-cut", f"streams end after {CUT_AFTER_EVENTS} token events, no [DONE]",
          ("smoke::test_stream_and_non_stream_give_the_same_tokens",
           "performance::test_no_failed_requests", "performance::test_load_run",
           # no request completes: the sizes cannot be checked, which is a failure
           "performance::test_output_tokens_are_exactly_as_requested",
           "performance::test_prompt_tokens_are_exactly_as_requested",
           "long_context::test_needle_recalled", "long_context::test_recall_rate")),
    Fault("http-500-bursts", "requests 5-7 of every 10 answered HTTP 500",
          ("performance::test_no_failed_requests",)),
    Fault("always-7842", f"every chat answer replaced by {FIXED_ANSWER!r}",
          ("long_context::test_random_code_recalled", "long_context::test_no_needle_no_code",
           "smoke::test_say_hi_greets", "smoke::test_capital_of_france_as_in_the_guide")),
    Fault("answer-in-reasoning", "the final answer moved into the reasoning field",
          ("long_context::test_needle_recalled", "long_context::test_no_needle_no_code",
           "long_context::test_recall_rate", "smoke::test_say_hi_greets",
           "smoke::test_capital_of_france_as_in_the_guide",
           "smoke::test_final_answer_holds_no_harmony_markup",
           "features::test_reasoning_arrives_separately",
           "features::test_tool_result_gets_a_final_answer")),
    Fault("invalid-tool-json", "tool-call arguments made invalid JSON",
          ("smoke::test_weather_question_becomes_a_tool_call",
           "features::test_tool_calls_pass_at_k", "features::test_tool_calls_never_invalid",
           "features::test_streamed_tool_call_equals_non_streamed")),
    Fault("harmony-leak", f"{HARMONY_LEAK!r} left at the start of every answer",
          ("smoke::test_final_answer_holds_no_harmony_markup",
           # the meaning check still finds Paris behind the markup; the canary's words do not
           "smoke::test_canary_answers_the_capital_word_for_word",
           "features::test_reasoning_arrives_separately")),
    Fault("perturbed-weights", "the embedded server with noise of 0.3 std on every weight",
          ("precision::test_token_match_rate", "precision::test_rouge_l",
           "precision::test_perplexity_difference", "precision::test_hidden_state_cosine"),
          {"perturb": 0.3}),
    Fault("short-context", "the embedded server with --max-model-len 2048",
          # the 131K row runs the guide's grid at 131,072 tokens here: refused at once
          ("long_context::test_needle_recalled", "features::test_context_131k"),
          {"max_model_len": 2048}),
    Fault("float32-served", "the embedded server with --dtype float32 (a command that lost "
          "the guide's --dtype bfloat16)", ("features::test_served_dtype_is_bf16",),
          {"dtype": "float32"}),
    # The features variants (the acceptance run starts each beside the server under test): one
    # that computes otherwise, as a graph-capture or a parallel-communication bug does.
    Fault("eager-differs", "the --enforce-eager variant serves weights with noise of 0.3 std",
          ("features::test_graph_mode_matches_eager",), {"perturb": 0.3}, variant="eager"),
    Fault("parallel-differs", "the pipeline-parallel variant serves weights with noise of 0.3 "
          "std", ("features::test_parallel_variant_agrees",), {"perturb": 0.3}, variant="pp"),
    Fault("chunked-prefill-short", "the chunked-prefill variant with --max-model-len 2048: it "
          "refuses the long prompt", ("features::test_long_prompt_under_chunked_prefill",),
          {"max_model_len": 2048}, variant="chunked_prefill"),
    # vLLM 0.32 then returns the call's text nowhere: no tool_calls, finish_reason "stop".
    # tool_choice "none" cannot be measured then (its control under "auto" gets no call).
    Fault("no-tool-parser", "the embedded server without --tool-call-parser and "
          "--enable-auto-tool-choice",
          ("features::test_tool_calls_pass_at_k",
           "features::test_tool_choice_none_gets_no_call",
           "smoke::test_weather_question_becomes_a_tool_call"), {"tool_call_parser": False}),
)
BY_NAME = {f.name: f for f in FAULTS}

# Every acceptance criterion no fault above flips, and why; the matrix prints this list, and
# testing/unit/selfcheck/test_faults.py fails on a criterion in neither place (a new test with
# no fault and no reason is a criterion never seen failing, said nowhere).
NOT_FLIPPED = {
    "smoke::test_server_came_up_as_given": "judges how a launched server came up (the fallback "
    "ladder); the self-check attaches. Shown failing: testing/e2e/test_plugin.py::"
    "test_a_server_up_only_on_a_lower_rung_fails_smoke",
    "smoke::test_say_hi_returns_text": "fails only when no text at all arrives (content nor "
    "reasoning); the faults here all send text. smoke::test_say_hi_greets judges the words",
    "smoke::test_ascend_software_meets_the_guide": "judges the host's CANN, torch_npu and "
    "vllm-ascend, not the server: no fault of a server makes the stack older. Shown on a "
    "simulated host: testing/e2e/test_devices.py",
    "smoke::test_health_stays_ok_afterwards": "a server whose /health fails is refused before "
    "any test runs. Shown failing: testing/e2e/test_plugin.py::"
    "test_a_server_that_dies_mid_run_is_one_story",
    "precision::test_baseline_is_recorded": "applies only when recording a baseline; it judges "
    "nothing",
    "precision::test_checkpoint_probe": "runs the checkpoint's kernels offline; never asks the "
    "server",
    "performance::test_concurrency_holds_by_littles_law": "judges the load client (did it hold "
    "its concurrency?), which no serving fault can starve. Shown failing: testing/unit/"
    "performance/test_report.py::test_a_client_that_did_not_hold_its_load_fails_littles_law",
    "features::test_graph_mode_decode_speed": "reported, not gated: it fails only when no "
    "request shows decode pacing (measured in eager-differs' control run)",
    "features::test_mxfp4_is_not_served": "reads the checkpoint and the launch log; the "
    "canary exists only in BF16 (an MXFP4 copy would be a second model to ship). Shown "
    "failing: testing/unit/features",
    "features::test_reasoning_grows_with_effort": "not applicable to the canary (its reasoning "
    "does not grow: profile reasoning_grows = false)",
    "accuracy::test_answers_as_the_baseline_does": "needs --accuracy-baseline. Shown failing: "
    "testing/unit/accuracy/test_run.py::"
    "test_the_paired_test_tells_other_answers_from_as_many_answers",
}


def selected(quick: bool) -> tuple[Fault, ...]:
    """The faults a self-check runs: all, or with ``quick`` the proxy faults only. A launched
    variant costs a server start-up (about a minute on 2 cores, a graph capture on an NPU),
    its pooling twin's or its control's; the project's own e2e tests show several variants'
    criteria failing (testing/e2e: precision perturbed, long-context short context, tool calls
    unparsed, an eager server that differs)."""
    return tuple(f for f in FAULTS if not (quick and f.launched))


def suites_of(fault: Fault) -> list[str]:
    return sorted({c.split("::")[0] for c in fault.flips})


def _rotate(text: str) -> str:
    """Every letter and digit one step on (a->b, Z->A, 9->0): a wrong token, still text."""
    out = []
    for ch in text:
        if "a" <= ch <= "z":
            ch = chr((ord(ch) - 97 + 1) % 26 + 97)
        elif "A" <= ch <= "Z":
            ch = chr((ord(ch) - 65 + 1) % 26 + 65)
        elif "0" <= ch <= "9":
            ch = chr((ord(ch) - 48 + 1) % 10 + 48)
        out.append(ch)
    return "".join(out)


def _other_id(token_id: int) -> int:
    # One below (one above for 0): always inside the vocabulary, so the suites' own follow-up
    # requests (teacher-forced logprobs of these ids) still get an answer, as from a real
    # server that sampled the wrong token.
    return token_id - 1 if token_id > 0 else 1


def _reasoning_key(part: dict) -> str:
    return next((k for k in REASONING_FIELDS if part.get(k) is not None), REASONING_FIELDS[0])


class Rewriter:
    """One response's rewriting under one fault (state lives per response)."""

    def __init__(self, fault: str, chat: bool, answer: str = FIXED_ANSWER,
                 request_number: int = 0):
        self.fault, self.chat, self.answer = fault, chat, answer
        self.request_number = request_number  # the generation request's place (0-based)
        self.token_events = 0
        self.answered = False      # always-7842: the answer went out once
        self.leaked = False        # harmony-leak: the markup went out once
        self.tool_calls_seen: set[int] = set()

    def message(self, body: dict) -> dict:
        """A whole (non-streamed) completion."""
        for choice in body.get("choices") or []:
            part = choice.get("message") if self.chat else choice
            if part is not None:
                self._part(part, "content" if self.chat else "text", whole=True)
            self._ids(choice)
            if (self.fault == "greedy-jitter" and choice.get("token_ids")
                    and self.request_number % JITTER_EVERY == JITTER_EVERY - 1):
                choice["token_ids"][-1] = _other_id(choice["token_ids"][-1])
        self._usage(body)
        return body

    def _usage(self, body: dict) -> None:
        if self.fault == "model-misnamed" and body.get("model"):
            body["model"] = OTHER_MODEL
        usage = body.get("usage")
        if self.fault == "usage-inflated" and usage and usage.get("completion_tokens"):
            usage["completion_tokens"] += 1
            usage["total_tokens"] = usage.get("total_tokens", 0) + 1
        if self.fault == "prefix-cache-hits" and usage and usage.get("prompt_tokens"):
            # as vLLM reports a prefix-cache hit (usage.prompt_tokens_details.cached_tokens)
            usage["prompt_tokens_details"] = {
                **(usage.get("prompt_tokens_details") or {}),
                "cached_tokens": max(1, usage["prompt_tokens"] // 2)}

    def event(self, chunk: dict):
        """One streamed chunk, rewritten; ``CUT`` when the stream must end before it."""
        carries = False
        for choice in chunk.get("choices") or []:
            part = choice.get("delta") if self.chat else choice
            if part is None:
                continue
            carries |= bool(part.get("content") or part.get("text") or part.get("tool_calls")
                            or any(part.get(k) for k in REASONING_FIELDS)
                            or choice.get("token_ids"))
            self._part(part, "content" if self.chat else "text", whole=False)
            self._ids(choice)
        self._usage(chunk)
        if carries:
            self.token_events += 1
            if self.fault == "stream-cut" and self.token_events > CUT_AFTER_EVENTS:
                return CUT
        return chunk

    def _ids(self, choice: dict) -> None:
        if self.fault == "altered-tokens" and choice.get("token_ids"):
            choice["token_ids"] = [_other_id(t) for t in choice["token_ids"]]

    def _part(self, part: dict, key: str, whole: bool) -> None:
        text = part.get(key)
        if self.fault == "altered-tokens" and text:
            part[key] = _rotate(text)
        elif self.fault == "text-off-ids" and not self.chat and text:
            part[key] = _rotate(text)  # what users read; the ids the criteria judge unchanged
        elif self.fault == "always-7842" and self.chat and text:
            part[key] = "" if self.answered else self.answer
            self.answered = True
        elif self.fault == "answer-in-reasoning" and self.chat and text:
            reasoning = _reasoning_key(part)
            part[reasoning] = (part.get(reasoning) or "") + text
            part[key] = None if whole else ""
        elif self.fault == "harmony-leak" and self.chat and text and not self.leaked:
            part[key] = HARMONY_LEAK + text
            self.leaked = True
        if self.fault == "invalid-tool-json" and self.chat:
            for call in part.get("tool_calls") or []:
                function = call.get("function") or {}
                index = call.get("index", 0)
                if function.get("arguments") is not None and index not in self.tool_calls_seen:
                    function["arguments"] = "{" + function["arguments"]  # "{{...}": not JSON
                    self.tool_calls_seen.add(index)


def injects_500(fault: str, request_number: int) -> bool:
    """http-500-bursts: whether the ``request_number``-th generation request (0-based) fails."""
    return fault == "http-500-bursts" and request_number % BURST_PERIOD in BURST


class Shuffler:
    """questions-shuffled: each chat request reaches the server with the question of the chat
    request before it (the first with ``STAND_IN``): every answer is a real answer, to another
    question, as from a gateway that mixes up its sessions. Only the accuracy suite grades
    which question an answer belongs to."""

    def __init__(self) -> None:
        self.previous = STAND_IN

    def __call__(self, body: dict) -> dict:
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return body
        last = messages[-1]
        if not isinstance(last, dict) or not isinstance(last.get("content"), str):
            return body
        question, self.previous = self.previous, last["content"]
        return {**body, "messages": [*messages[:-1], {**last, "content": question}]}


def forgotten(body: dict) -> dict:
    """forgetful-history: a chat request with its last message only (a gateway that keeps no
    history)."""
    messages = body.get("messages")
    if isinstance(messages, list) and len(messages) > 1:
        body = {**body, "messages": messages[-1:]}
    return body
