"""AriadneSelector with the real embedder: matching choices to routes, caching, multi, abstention, bad input."""
from __future__ import annotations

import asyncio

import pytest
from llama_index.core.base.base_selector import BaseSelector
from llama_index.core.schema import QueryBundle
from llama_index.core.tools import ToolMetadata

from ariadne_integrations.errors import InvalidInputError
from ariadne_integrations.llama_index import AriadneSelector


def test_is_a_llama_index_selector(selector):
    assert isinstance(selector, BaseSelector)
    assert selector.get_prompts() == {}
    selector.update_prompts({})  # no-op, must not raise
    assert selector.routes == ["billing_docs", "product_docs", "travel_policy"]


def test_held_out_queries_go_to_their_tool(selector, held_out, tool_choices):
    choices = tool_choices()
    names = [c.name for c in choices]
    picked = [names[selector.select(choices, q).ind] for q, _ in held_out]
    assert picked == [want for _, want in held_out]


def test_reason_states_route_score_and_runner_up(selector, tool_choices):
    res = selector.select(tool_choices(), "I was billed twice this month")
    assert len(res.selections) == 1
    reason = res.reason
    assert "'billing_docs'" in reason and "runner-up" in reason and "margin" in reason
    scores = selector.scores(tool_choices(), "I was billed twice this month")
    assert f"{max(scores):.3f}" in reason


def test_choice_order_does_not_matter_names_do(selector, tool_choices):
    choices = tool_choices(("travel_policy", "billing_docs", "product_docs"))
    assert selector.select(choices, "refund my double charge").ind == 1
    assert selector.select(choices, "hotel budget on a business trip").ind == 0


def test_examples_embedded_once_and_choice_set_cached(counting_embedder, examples, tool_choices):
    sel = AriadneSelector.from_examples(examples, embedder=counting_embedder)
    n_examples = sum(len(v) for v in examples.values())
    assert len(counting_embedder.texts) == n_examples
    extra = ToolMetadata(name="weather", description="Weather forecasts: rain, snow, temperature and wind.")
    choices = tool_choices() + [extra]
    before = len(counting_embedder.texts)
    for q in ["will it snow tomorrow", "refund please", "will it rain on Sunday"]:
        sel.select(choices, q)
    # 3 queries + the description of the one tool without examples, embedded once
    assert len(counting_embedder.texts) - before == 4
    assert counting_embedder.texts[before:].count(extra.description) == 1


def test_tool_without_examples_competes_by_description(selector, tool_choices):
    choices = tool_choices() + [ToolMetadata(name="weather", description="Weather forecasts: rain, snow, temperature and wind.")]
    res = selector.select(choices, "will it rain in Paris this weekend")
    assert res.ind == 3
    assert "by description" in res.reason
    assert selector.select(choices, "I was charged twice").ind == 0


def test_examples_for_tools_not_offered_are_ignored(selector, tool_choices):
    # the selector knows three routes; the engine offers only two of them: indices stay in range
    choices = tool_choices(("product_docs", "billing_docs"))
    for q in ["what hotel budget applies for my trip", "can I fly business class", "export my report"]:
        res = selector.select(choices, q)
        assert res.inds and all(0 <= i < 2 for i in res.inds)
    assert selector.select(choices, "export my report").ind == 0


def test_nameless_choices_match_routes_by_position(selector):
    # name-less choices take the route at the same position in selector.routes
    choices = [ToolMetadata(description="first"), ToolMetadata(description="second"), ToolMetadata(description="third")]
    assert selector.select(choices, "I was billed twice").ind == 0
    assert selector.select(choices, "how much for a hotel on my business trip").ind == 2
    # plain strings (LlamaIndex wraps them as name-less ToolMetadata) behave the same
    assert selector.select(["a", "b", "c"], "invite a colleague to my workspace").ind == 1


def test_mixed_named_and_nameless_choices_use_the_description(selector):
    # with some names present, a name-less choice is not matched by position (ambiguous) but by description
    choices = [ToolMetadata(name="billing_docs", description="billing"),
               ToolMetadata(description="Weather forecasts: rain, snow, temperature and wind.")]
    res = selector.select(choices, "will it snow in Denver on Friday")
    assert res.ind == 1 and "by description" in res.reason and "choice #1" in res.reason


def test_repeated_tool_names_are_scored_apart(selector):
    # two tools may share a name (nothing in LlamaIndex forbids it): each is still its own choice
    choices = [ToolMetadata(name="docs", description="Invoices, refunds and payments."),
               ToolMetadata(name="docs", description="Weather forecasts: rain, snow, temperature and wind.")]
    assert selector.select(choices, "will it snow in Denver on Friday").ind == 1
    assert selector.select(choices, "I need a refund for my last invoice").ind == 0
    assert len(selector.scores(choices, "will it snow in Denver on Friday")) == 2


def test_min_margin_needs_a_runner_up(selector, tool_choices):
    # one choice has no runner-up: min_margin does not apply (a threshold still does)
    one = tool_choices(("billing_docs",))
    sel = AriadneSelector.from_router(selector.router, min_margin=5.0)
    res = sel.select(one, "I was billed twice this month")
    assert res.ind == 0 and not res.reason.startswith("low confidence") and "no runner-up" in res.reason
    assert sel.select(tool_choices(), "I was billed twice this month").reason.startswith("low confidence")
    strict = AriadneSelector.from_router(selector.router, threshold=0.99, min_margin=5.0)
    assert strict.select(one, "I was billed twice this month").reason.startswith("low confidence")


def test_replaced_route_invalidates_cached_choice_set(examples, tool_choices):
    sel = AriadneSelector.from_examples(examples)
    choices = tool_choices()
    q = "when does the cafeteria open for lunch"
    sel.select(choices, q)  # warm the cache
    sel.router.add_adapter("product_docs", ["when does the cafeteria open", "what is on the lunch menu today"],
                           replace=True)
    assert sel.select(choices, q).ind == 1


def test_query_bundle_embedding_strs_are_used(selector, tool_choices):
    qb = QueryBundle(query_str="xyz", custom_embedding_strs=["I was billed twice this month"])
    assert selector.select(tool_choices(), qb).ind == 0


# ------------------------------------------------------------------ multi-selection
def test_top_k_returns_several_best_first(examples, tool_choices):
    sel = AriadneSelector.from_examples(examples, top_k=2)
    res = sel.select(tool_choices(), "refund the hotel invoice from my business trip")
    assert len(res.inds) == 2
    scores = sel.scores(tool_choices(), "refund the hotel invoice from my business trip")
    assert [scores[i] for i in res.inds] == sorted(scores, reverse=True)[:2]
    assert "also selected" in res.reasons[1]


def test_multi_threshold_selects_all_above(examples, tool_choices):
    sel = AriadneSelector.from_examples(examples, multi_threshold=-1.0)
    assert len(sel.select(tool_choices(), "anything at all").inds) == 3
    sel_strict = AriadneSelector.from_router(sel.router, multi_threshold=0.99)
    assert len(sel_strict.select(tool_choices(), "I was billed twice").inds) == 1  # the best is always kept


# ------------------------------------------------------------------ abstention
def test_abstain_best_keeps_best_with_low_confidence_reason(selector, tool_choices):
    sel = AriadneSelector.from_router(selector.router, threshold=0.99)
    res = sel.select(tool_choices(), "I was billed twice this month")
    assert res.ind == 0 and res.reason.startswith("low confidence")


def test_abstain_empty_returns_no_selection(selector, tool_choices):
    sel = AriadneSelector.from_router(selector.router, threshold=0.99, on_abstain="empty")
    assert sel.select(tool_choices(), "I was billed twice").selections == []
    sel_ok = AriadneSelector.from_router(selector.router, threshold=0.2, on_abstain="empty")
    assert sel_ok.select(tool_choices(), "I was billed twice").ind == 0


def test_abstain_fallback_tool(selector, tool_choices):
    sel = AriadneSelector.from_router(selector.router, threshold=0.5, on_abstain="fallback:general")
    choices = tool_choices() + [ToolMetadata(name="general", description="General questions about anything else.")]
    res = sel.select(choices, "what is the capital of Australia")
    assert res.ind == 3 and "fallback" in res.reason
    assert sel.select(choices, "I was billed twice this month").ind == 0  # confident queries unaffected
    with pytest.raises(InvalidInputError, match="general"):
        sel.select(tool_choices(), "what is the capital of Australia")


def test_router_threshold_is_inherited(examples, tool_choices):
    sel = AriadneSelector.from_examples(examples)
    sel.router.set_thresholds(threshold=0.95)
    assert sel.threshold == 0.95
    assert sel.select(tool_choices(), "I was billed twice").reason.startswith("low confidence")


# ------------------------------------------------------------------ async
async def test_aselect_matches_select(selector, held_out, tool_choices):
    choices = tool_choices()
    results = await asyncio.gather(*(selector.aselect(choices, q) for q, _ in held_out))
    assert [r.ind for r in results] == [selector.select(choices, q).ind for q, _ in held_out]


# ------------------------------------------------------------------ bad input
def test_tool_without_examples_or_description_is_a_clear_error(selector, tool_choices):
    choices = tool_choices() + [ToolMetadata(name="mystery", description="  ")]
    with pytest.raises(InvalidInputError, match=r"'mystery'.*no description"):
        selector.select(choices, "hello")


def test_empty_choices_is_a_clear_error(selector):
    with pytest.raises(InvalidInputError, match="choice list is empty"):
        selector.select([], "hello")


def test_empty_query_is_a_clear_error(selector, tool_choices):
    with pytest.raises(InvalidInputError, match="empty"):
        selector.select(tool_choices(), "   ")


@pytest.mark.parametrize("kwargs", [{"on_abstain": "maybe"}, {"on_abstain": "fallback:"}, {"top_k": 0},
                                    {"threshold": float("nan")}, {"multi_threshold": "high"}])
def test_bad_settings_are_clear_errors(selector, kwargs):
    with pytest.raises(InvalidInputError):
        AriadneSelector.from_router(selector.router, **kwargs)


def test_from_examples_rejects_tool_with_no_examples():
    with pytest.raises(InvalidInputError, match="no examples"):
        AriadneSelector.from_examples({"a": ["hello"], "b": []})


def test_from_index_round_trip(selector, tmp_path, tool_choices):
    selector.router.save(tmp_path / "idx")
    sel = AriadneSelector.from_index(tmp_path / "idx")
    q = "am I allowed to book a business class flight"
    assert sel.select(tool_choices(), q).ind == selector.select(tool_choices(), q).ind == 2


def test_tool_names_that_match_no_example_key_warn_once(examples, tool_choices):
    from ariadne_integrations.llama_index import AriadneSelector

    fresh = AriadneSelector.from_examples(examples)
    typo = [ToolMetadata(name="billing_doc", description="Invoices, refunds and payments.")] + tool_choices(("product_docs",))
    with pytest.warns(UserWarning, match=r"\['billing_doc'\] match no example key.*billing_docs") as caught:
        fresh.select(typo, "I was charged twice")
        fresh.select(typo + [ToolMetadata(name="x", description="other")], "I was charged twice")
    # once per tool name: the second call only names the new one
    assert [str(w.message).split("]")[0] for w in caught] == ["AriadneSelector: tool(s) ['billing_doc'", "AriadneSelector: tool(s) ['x'"]
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fresh.select(tool_choices(), "I was charged twice")  # all names match: no warning
