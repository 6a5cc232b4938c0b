"""AriadneRouterRunnable / route_to_chains with the real router, in RunnableBranch and dispatch."""
from __future__ import annotations

import asyncio

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.runnables import RunnableBranch, RunnableLambda, RunnablePassthrough

from ariadne_integrations.demo import DEMO_TASKS as TASKS
from ariadne_integrations.errors import InvalidInputError, UnknownAdapterError
from ariadne_integrations.langchain import AriadneRouterRunnable, route_to_chains
from ariadne_integrations.routing.decision import RouteDecision


def test_invoke_batch_and_input_kinds(routing_index, routing_router, held_out):
    r = AriadneRouterRunnable(index=routing_index)
    d = r.invoke(held_out["sql"][0])
    assert isinstance(d, RouteDecision) and d.adapter == "sql"
    assert r.invoke({"question": held_out["sentiment"][0]}).adapter == "sentiment"
    assert r.invoke(HumanMessage(held_out["date_iso"][0])).adapter == "date_iso"
    convo = [HumanMessage(held_out["sql"][0]), AIMessage("ok"), HumanMessage(held_out["support_intent"][0])]
    assert r.invoke(convo).adapter == "support_intent"
    keyed = AriadneRouterRunnable(routing_router, input_key="text")
    qs = [held_out[t][3] for t in TASKS]
    assert [x.adapter for x in keyed.batch([{"text": q} for q in qs])] == list(TASKS)
    assert [x.adapter for x in asyncio.run(r.abatch(qs))] == list(TASKS)
    assert asyncio.run(r.ainvoke(qs[0])).adapter == TASKS[0]
    out = r.batch([qs[0], "", qs[1]], return_exceptions=True)
    assert out[0].adapter == TASKS[0] and isinstance(out[1], InvalidInputError) and out[2].adapter == TASKS[1]
    with pytest.raises(InvalidInputError, match="no key"):
        keyed.invoke({"q": "x"})
    with pytest.raises(InvalidInputError):
        AriadneRouterRunnable()


def test_runnable_branch_on_the_decision(routing_router, held_out):
    router = AriadneRouterRunnable(routing_router)
    branch = RunnablePassthrough.assign(route=router) | RunnableBranch(
        (lambda x: x["route"].adapter == "sql", RunnableLambda(lambda x: "SQL-CHAIN")),
        (lambda x: x["route"].adapter == "sentiment", RunnableLambda(lambda x: "SENTIMENT-CHAIN")),
        RunnableLambda(lambda x: "DEFAULT"),
    )
    assert branch.invoke({"input": held_out["sql"][1]}) == "SQL-CHAIN"
    assert branch.invoke({"input": held_out["sentiment"][1]}) == "SENTIMENT-CHAIN"
    assert branch.invoke({"input": held_out["date_iso"][1]}) == "DEFAULT"


def test_route_to_chains_dispatch(routing_router, held_out):
    chains = {t: RunnableLambda(lambda x, t=t: f"{t}|{x[:10]}") for t in ("sql", "sentiment")}
    dispatch = route_to_chains(routing_router, chains, default=RunnableLambda(lambda x: "default"))
    assert dispatch.invoke(held_out["sql"][2]).startswith("sql|")
    qs = [held_out["sql"][0], held_out["date_iso"][0], held_out["sentiment"][0], held_out["sql"][1]]
    outs = dispatch.batch(qs)
    assert outs[0].startswith("sql|") and outs[1] == "default" and outs[2].startswith("sentiment|") and outs[3].startswith("sql|")
    assert asyncio.run(dispatch.abatch(qs)) == outs
    attach = route_to_chains(routing_router, {"sql": RunnableLambda(lambda x: x["route"].adapter)}, attach_decision="route",
                             default=RunnableLambda(lambda x: "other"))
    assert attach.invoke({"input": held_out["sql"][0]}) == "sql"
    strict = route_to_chains(routing_router, {"sql": RunnableLambda(lambda x: "s")})
    with pytest.raises(UnknownAdapterError, match="no chain"):
        strict.invoke(held_out["sentiment"][0])
    with pytest.raises(UnknownAdapterError, match="sqll"):
        route_to_chains(routing_router, {"sqll": RunnableLambda(lambda x: x)})


def test_route_to_chains_is_one_parent_run_with_the_decision_and_streams_the_chain(routing_router, held_out):
    from langchain_core.runnables import RunnableGenerator
    from langchain_core.tracers.run_collector import RunCollectorCallbackHandler

    def words(x):
        yield from ("SQL", " chain", " streaming")

    async def awords(x):
        for w in ("SQL", " chain", " streaming"):
            yield w

    dispatch = route_to_chains(routing_router, {"sql": RunnableGenerator(words, awords)}, default=RunnableLambda(lambda x: "other"))
    collector = RunCollectorCallbackHandler()
    assert dispatch.invoke(held_out["sql"][0], {"callbacks": [collector]}) == "SQL chain streaming"
    (run,) = collector.traced_runs  # one top-level run, not the router and the chain side by side
    assert run.metadata["ariadne_route"]["adapter"] == "sql" and run.metadata["ariadne_route"]["score"] > 0
    assert [c.tags for c in run.child_runs] == [["route:sql"]]

    collector = RunCollectorCallbackHandler()
    chunks = list(dispatch.stream(held_out["sql"][0], {"callbacks": [collector]}))
    assert chunks == ["SQL", " chain", " streaming"]  # the chosen chain's own chunks
    (run,) = collector.traced_runs
    assert run.outputs == {"output": "SQL chain streaming"}

    async def astream():
        return [c async for c in dispatch.astream(held_out["sql"][0])]

    assert asyncio.run(astream()) == chunks
    assert asyncio.run(dispatch.ainvoke(held_out["date_iso"][0])) == "other"
