"""Every literal demo prompt of README, notebooks, the main demo and the tests (listed once, in
ariadne_integrations/demo/examples.json) is routed by the packaged index to the right adapter and answered
right by it, with the real backbone and the real adapters: what a newcomer tries first must work."""
from __future__ import annotations

from pathlib import Path

import pytest

from ariadne_integrations.demo import DEMO_TASKS, demo_examples, demo_index_path

REPO = Path(__file__).resolve().parents[2]


def _first_line(text: str) -> str:
    text = text.strip()
    return text.splitlines()[0].strip() if text else ""


def _sql_key(text: str) -> str:
    """SQL up to case, spacing, quote style and the final ';'."""
    return " ".join(_first_line(text).replace('"', "'").lower().rstrip(";").split())


def _matches(task: str, answer: str, expected: str) -> bool:
    if task == "sql":
        return _sql_key(answer) == _sql_key(expected)
    return _first_line(answer) == expected


def test_examples_are_well_formed():
    ex = demo_examples()
    assert len(ex) >= 15
    assert len({e["prompt"] for e in ex}) == len(ex)
    for e in ex:
        assert e["task"] in DEMO_TASKS and e["expected"] and e["source"], e


def test_main_demo_request_is_covered():
    from ariadne_integrations.demo.__main__ import DEFAULT_REQUEST, split_request

    prompts = {e["prompt"] for e in demo_examples()}
    missing = [q for q in split_request(DEFAULT_REQUEST) if q not in prompts]
    assert not missing, f"add these main-demo sub-queries to demo/examples.json: {missing}"


@pytest.mark.parametrize("source,path", [("README.md", "README.md"), ("notebooks/", "scripts/make_notebooks.py")])
def test_documented_prompts_still_appear_where_cited(source, path):
    """examples.json cites README and notebook prompts; if one is reworded there, update examples.json."""
    f = REPO / path
    if not f.is_file():
        pytest.skip(f"{path} is not in this checkout")
    text = f.read_text(encoding="utf-8")
    cited = [e["prompt"] for e in demo_examples() if e["source"].startswith(source) or f"; {source}" in e["source"]]
    assert cited
    assert [p for p in cited if p not in text] == []


@pytest.fixture(scope="module")
def answered():
    from ariadne_integrations import AriadneRouter
    from ariadne_integrations.runtime.adapters import AdapterRuntime
    from ariadne_integrations.runtime.generation import GenerationConfig

    router = AriadneRouter.load(demo_index_path())
    examples = demo_examples()
    prompts = [e["prompt"] for e in examples]
    decisions = router.route_batch(prompts)
    rt = AdapterRuntime(None, {t: router.adapter_path(t) for t in router.adapters})
    outs = rt.generate(prompts, [d.best for d in decisions], GenerationConfig(max_new_tokens=32))  # one mixed batch
    return [(e, d.best, o.text) for e, d, o in zip(examples, decisions, outs)]


def test_every_demo_example_is_routed_right(answered):
    wrong = [(e["prompt"], e["task"], routed) for e, routed, _ in answered if routed != e["task"]]
    assert not wrong, wrong


def test_every_demo_example_is_answered_right(answered):
    wrong = [(e["prompt"], e["expected"], text) for e, _, text in answered if not _matches(e["task"], text, e["expected"])]
    assert not wrong, wrong
