import math

import pytest

from pytest_ascend_oss.metrics import text as tm
from pytest_ascend_oss.suites.precision import baseline, collect, compare, prompts


def test_identical_chinese_texts_score_one_and_different_ones_less():
    same = "法国的首都是巴黎。巴黎是一座美丽的城市。"
    assert tm.rouge_l(same, same) == 1.0
    assert tm.rouge_l(same, "德国的首都是柏林。柏林是一座历史悠久的城市。") < 0.8
    assert tm.rouge_l("The capital is Paris.", "the capital is paris") == 1.0
    assert tm.rouge_l("", "") == 1.0 and tm.rouge_l("abc", "") == 0.0


def test_prefix_fraction_and_perplexity():
    assert tm.common_prefix_fraction([1, 2, 3, 4], [1, 2, 9, 9]) == 0.5
    assert tm.common_prefix_fraction([1, 2], [1, 2, 3, 4]) == 0.5
    assert tm.common_prefix_fraction([], []) == 1.0
    assert tm.perplexity([math.log(0.5)] * 4) == pytest.approx(2.0)
    assert tm.relative_difference(2.04, 2.0) == pytest.approx(0.02)


def test_kl_over_shared_top_k_with_tail():
    p = {1: math.log(0.6), 2: math.log(0.3)}
    assert tm.kl_top_k(p, p) == pytest.approx(0.0, abs=1e-12)
    q = {1: math.log(0.3), 2: math.log(0.6)}
    assert tm.kl_top_k(p, q) > 0.1
    assert tm.top1(q) == 2


def test_kl_reads_top_k_lists_that_share_no_token_as_far_apart_not_equal():
    p = {1: math.log(0.6), 2: math.log(0.3)}
    disjoint = {3: math.log(0.6), 4: math.log(0.3)}
    one_shared = {1: math.log(0.6), 4: math.log(0.3)}
    # disjoint: the candidate left 0.1 unlisted, so the reference's 0.9 gets at most 0.1
    assert tm.kl_top_k(p, disjoint) == pytest.approx(0.9 * math.log(9) + 0.1 * math.log(1 / 9))
    # token 2 (0.3 in the reference) can hold at most the 0.1 the candidate left unlisted
    assert tm.kl_top_k(p, one_shared) == pytest.approx(0.3 * math.log(3) + 0.1 * math.log(1 / 3))
    assert tm.kl_top_k(p, one_shared) < tm.kl_top_k(p, disjoint)


def test_kl_from_top_k_lists_never_exceeds_the_true_kl():
    """Full distributions drawn at random, some close, some unrelated; only their top-k lists
    given: the figure stays under the KL of the full distributions and rises with it."""
    import numpy as np

    rng = np.random.default_rng(7)
    pairs = []
    for trial in range(300):
        logits = rng.normal(0, 3, 50)
        other = logits + rng.normal(0, [0.05, 0.5, 3.0][trial % 3], 50)
        p, q = np.exp(logits) / np.exp(logits).sum(), np.exp(other) / np.exp(other).sum()
        top = {int(t): math.log(p[t]) for t in np.argsort(-p)[:5]}
        cand = {int(t): math.log(q[t]) for t in np.argsort(-q)[:5]}
        true_kl = float(np.sum(p * np.log(p / q)))
        bound = tm.kl_top_k(top, cand)
        assert bound <= true_kl + 1e-9
        pairs.append((true_kl, bound))
    true, bound = np.array(pairs).T
    assert np.corrcoef(true, bound)[0, 1] > 0.8
    with pytest.raises(ValueError, match="empty reference"):
        tm.kl_top_k({}, p)


def reference(max_tokens=256):
    return {"model": "m", "sampling": collect.sampling(max_tokens),
            "prompt_set": {"name": "s", "sha256": "abc", "renderer": prompts.RENDERER},
            "perplexity": {"corpus_sha256": "c", "logprobs": [[-1.0]],
                           "conversations": [{"id": "c", "ids": [1, 2], "score_from": 1}]},
            "prompts": []}


def test_baseline_with_other_max_tokens_is_refused_naming_the_field(tmp_path):
    path = baseline.save(tmp_path / "b.json", reference(128))
    loaded = baseline.load(path)
    with pytest.raises(baseline.BaselineError, match=r"sampling.max_tokens = 128, this run uses 256"):
        baseline.check_compatible(path, loaded, reference(256))
    baseline.check_compatible(path, loaded, reference(128))  # the same settings are accepted


def test_baseline_for_another_model_or_prompt_set_is_refused(tmp_path):
    path = baseline.save(tmp_path / "b.json.gz", reference())
    loaded = baseline.load(path)
    other_model = {**reference(), "model": "other"}
    with pytest.raises(baseline.BaselineError, match="model = 'm', this run uses 'other'"):
        baseline.check_compatible(path, loaded, other_model)
    other_set = reference()
    other_set["prompt_set"] = {**other_set["prompt_set"], "sha256": "zzz"}
    with pytest.raises(baseline.BaselineError, match="prompt_set.sha256"):
        baseline.check_compatible(path, loaded, other_set)


def test_a_baseline_of_the_previous_format_is_refused_with_the_remedy(tmp_path):
    path = tmp_path / "old.json"
    path.write_text('{"format": "pytest-ascend-oss/precision-baseline", "version": 1}')
    with pytest.raises(baseline.BaselineError, match="version 1, this plugin reads version 2; "
                       "record it again"):
        baseline.load(path)


def test_perplexity_on_other_token_counts_is_refused():
    ref, cand, forced = comparison_inputs([5, 6, 7])
    cand["perplexity"]["logprobs"] = [[-1.0]]
    with pytest.raises(ValueError, match="scored 2 tokens, the server 1"):
        compare.compare(ref, cand, forced)


def test_a_baseline_keeps_token_ids_as_ints(tmp_path):
    """JSON turns the top-k's int keys into strings; read back they must match the server's ids
    again, or the teacher-forced KL compares nothing and reads 0."""
    data = {**reference(), "prompts": [{"id": "p", "top_logprobs": [{5: -0.1, 6: -2.5}]}]}
    loaded = baseline.load(baseline.save(tmp_path / "b.json", data))
    top = loaded["prompts"][0]["top_logprobs"][0]
    assert top == {5: -0.1, 6: -2.5}
    assert tm.kl_top_k(top, {5: -0.3, 6: -1.5}) > 0


def test_bad_baseline_files(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text("{}")
    with pytest.raises(baseline.BaselineError, match="not a pytest-ascend-oss/precision-baseline"):
        baseline.load(bad)
    bad.write_text("not json")
    with pytest.raises(baseline.BaselineError, match="not a baseline file"):
        baseline.load(bad)


def test_shipped_prompt_set_covers_the_guide(tmp_path):
    data, sha = prompts.load_prompts(None)
    items = data["prompts"]
    assert len(items) >= 50 and len(sha) == 64
    assert {p["lang"] for p in items} == {"en", "zh"}
    assert {p["category"] for p in items} >= {"factual", "reasoning", "code", "summarization",
                                              "writing"}
    bad = tmp_path / "p.json"
    bad.write_text('{"prompts": [{"id": "a", "messages": []}, {"id": "a", "messages": []}]}')
    with pytest.raises(prompts.PromptError, match="duplicate id 'a'"):
        prompts.load_prompts(bad)


def test_harmony_rendering_is_fixed_and_ends_at_the_assistant_turn():
    ids = prompts.render([{"role": "user", "content": "say hi"}])
    assert ids == prompts.render([{"role": "user", "content": "say hi"}])
    assert ids[-2:] == [200006, 173781]  # <|start|>assistant


def comparison_inputs(candidate_ids):
    ref = {"prompts": [{"id": "p", "prompt_ids": [1], "generated_ids": [5, 6, 7], "text": "a b c",
                        "top_logprobs": [{5: -0.1}, {6: -0.1}, {7: -0.1}]}],
           "perplexity": {"logprobs": [[-1.0], [-1.0]]}}
    cand = {"prompts": [{"id": "p", "generated_ids": candidate_ids, "text": "a b x"}],
            "perplexity": {"logprobs": [[-1.1], [-1.1]]}}
    forced = [{"id": "p", "positions": [{5: -0.1}, {6: -0.2}, {8: -0.1, 7: -0.5}]}]
    return ref, cand, forced


def test_compare_reports_divergence_and_teacher_forcing():
    result = compare.compare(*comparison_inputs([5, 6, 8]))
    assert result["token_match_rate"] == 0.0
    assert result["worst"][0]["first_divergence"] == 2
    assert result["teacher_forced_top1"] == pytest.approx(2 / 3)
    assert result["perplexity_rel_diff"] == pytest.approx(math.exp(1.1) / math.e - 1)
    assert result["perplexity_nll_diff_nats"] == pytest.approx(0.1)
    assert result["perplexity_tokens"] == 2
    assert compare.compare(*comparison_inputs([5, 6, 7]))["token_match_rate"] == 1.0
