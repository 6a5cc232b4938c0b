"""AdapterRuntime.score_completions: teacher-forced log-probabilities under real trained demo adapters."""
from __future__ import annotations

import math

import pytest

from ariadne_integrations.demo import demo_adapter_paths
from ariadne_integrations.errors import InvalidInputError, UnknownAdapterError
from ariadne_integrations.runtime.generation import GenerationConfig

REVIEW = "I loved this movie, the acting was wonderful."
SQL = "How many users signed up last week? Table users(id, created_at)."


@pytest.fixture(scope="module")
def demo_runtime(backbone):
    from ariadne_integrations.runtime.adapters import AdapterRuntime

    return AdapterRuntime(backbone, demo_adapter_paths(), max_loaded_adapters=8)


def _greedy_logprob(rt, prompt: str, adapter: str | None, max_new: int) -> tuple[str, float, int]:
    """An independent figure: transformers' own greedy generate with output scores (one row, no padding)."""
    import torch

    shared = rt._shared()
    cfg = GenerationConfig(max_new_tokens=max_new)
    with shared.lock:
        names, _ = rt._adapter_names([adapter])
        batch, _ = rt._encode([prompt], cfg)
        with torch.inference_mode():
            out = shared.peft.generate(**batch, adapter_names=names, max_new_tokens=max_new, do_sample=False,
                                       temperature=None, top_p=None, top_k=None, output_scores=True,
                                       return_dict_in_generate=True, pad_token_id=rt.backbone.tokenizer.pad_token_id)
            steps = shared.peft.compute_transition_scores(out.sequences, out.scores, normalize_logits=True)[0]
    new = out.sequences[0, batch["input_ids"].shape[1]:].tolist()
    eos = rt.backbone.tokenizer.eos_token_id
    assert eos in new, "the demo adapter should end its short answer within max_new tokens"
    n = new.index(eos) + 1  # answer tokens and the end-of-answer token
    return rt.backbone.tokenizer.decode(new[:n - 1], skip_special_tokens=True), float(steps[:n].sum()), n


def test_score_equals_generates_own_log_probability(demo_runtime):
    rt = demo_runtime
    text, expected, n = _greedy_logprob(rt, REVIEW, "sentiment", 16)
    got = rt.score_completions([REVIEW], [text], ["sentiment"])[0]
    assert got.tokens == n
    assert got.logprob == pytest.approx(expected, abs=2e-3)
    assert got.mean_logprob == pytest.approx(expected / n, abs=1e-3)
    without_end = rt.score_completions([REVIEW], [text], ["sentiment"], end_of_answer=False)[0]
    assert without_end.tokens == n - 1 and without_end.logprob > got.logprob  # the end token costs something


def test_mixed_rows_equal_single_rows_and_own_adapter_is_surest(demo_runtime):
    rt = demo_runtime
    prompts = [REVIEW, SQL, REVIEW, SQL, REVIEW]
    completions = ["positive", "SELECT COUNT(*) FROM users", "positive", "SELECT COUNT(*) FROM users", "positive"]
    adapters = ["sentiment", "sql", "sql", None, "support_intent"]
    mixed = rt.score_completions(prompts, completions, adapters, chunk_size=2)  # chunks of mixed adapters
    single = [rt.score_completions([p], [c], [a])[0] for p, c, a in zip(prompts, completions, adapters)]
    for m, s in zip(mixed, single):
        assert m.tokens == s.tokens and m.logprob == pytest.approx(s.logprob, abs=1e-3)
    assert all(math.isfinite(m.logprob) and m.logprob < 0 for m in mixed)
    # the sentiment adapter is far surer of "positive" for a review than the SQL or support adapters are
    assert mixed[0].logprob > mixed[2].logprob + 1.0 and mixed[0].logprob > mixed[4].logprob + 1.0
    assert mixed[1].logprob > mixed[3].logprob + 1.0  # and the SQL adapter of its SQL, more than the bare backbone


def test_bad_input_is_a_typed_error(demo_runtime):
    rt = demo_runtime
    with pytest.raises(InvalidInputError, match="one string per prompt"):
        rt.score_completions([REVIEW, SQL], ["positive"], ["sentiment", "sql"])
    with pytest.raises(InvalidInputError, match=r"completions\[0\] must be a string"):
        rt.score_completions([REVIEW], [3], ["sentiment"])  # type: ignore[list-item]
    with pytest.raises(InvalidInputError, match="nothing to score"):
        rt.score_completions([REVIEW], [""], ["sentiment"], end_of_answer=False)
    with pytest.raises(UnknownAdapterError, match="no_such"):
        rt.score_completions([REVIEW], ["positive"], ["no_such"])
    with pytest.raises(InvalidInputError, match="chunk_size"):
        rt.score_completions([REVIEW], ["positive"], ["sentiment"], chunk_size=0)
