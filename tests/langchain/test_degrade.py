"""Issue 13 §4 through the wrappers, on the real backbone and real LoRA adapters: a broken adapter fails
only its own rows (or falls back to the bare backbone), and a re-saved index is picked up in-process."""
from __future__ import annotations

import shutil

import pytest

from ariadne_integrations.core.shared import clear_caches
from ariadne_integrations.errors import AdapterLoadError, UnknownAdapterError
from ariadne_integrations.langchain import AriadneLLM
from ariadne_integrations.testing import make_random_lora

EXAMPLES = {
    "maths": ["What is 2 plus 2?", "Compute 7 times 8.", "Add 13 and 29."],
    "french": ["Say hello in French.", "Translate 'cat' into French.", "How do you say 'thank you' in French?"],
}
MATHS, FRENCH = "What is 3 plus 5?", "Say goodbye in French."


@pytest.fixture(scope="module")
def loras(tmp_path_factory):
    root = tmp_path_factory.mktemp("degrade_loras")
    return {name: make_random_lora(root / name, seed) for name, seed in (("maths", 11), ("french", 12), ("v2", 13))}


@pytest.fixture(scope="module")
def router(loras):
    from ariadne_integrations.routing.router import AriadneRouter

    return AriadneRouter.from_examples(EXAMPLES, threshold=-1.0, min_margin=0.0,
                                       adapter_paths={"maths": loras["maths"], "french": loras["french"]})


@pytest.fixture
def broken_index(tmp_path, router, loras):
    """An index whose "french" adapter folder disappeared after it was built."""
    gone = shutil.copytree(loras["french"], tmp_path / "french")
    router.set_adapter_path("french", gone)
    try:
        router.save(tmp_path / "index")
    finally:
        router.set_adapter_path("french", loras["french"])
    shutil.rmtree(gone)
    clear_caches()
    return tmp_path / "index"


def test_broken_adapter_fails_only_its_rows(broken_index):
    llm = AriadneLLM.from_index(broken_index, max_new_tokens=4, coalesce_window_ms=0)
    out = llm.batch([MATHS, FRENCH, MATHS], return_exceptions=True)
    assert isinstance(out[0], str) and out[0] == out[2]
    assert isinstance(out[1], AdapterLoadError) and "does not exist" in str(out[1])
    assert llm.invoke(MATHS) == out[0]
    with pytest.raises(AdapterLoadError, match="does not exist"):
        llm.invoke(FRENCH)
    with pytest.raises(AdapterLoadError) as info:  # one call with a failed row: that call raises ...
        llm.generator.generate([MATHS, FRENCH], llm.generation_config())
    assert info.value.results[0].text == out[0] and info.value.results[1] is None  # ... with the healthy rows' answers


def test_broken_adapter_can_fall_back_to_the_bare_backbone(broken_index):
    llm = AriadneLLM.from_index(broken_index, max_new_tokens=4, on_adapter_error="base")
    base = AriadneLLM.from_index(broken_index, max_new_tokens=4, adapter="__base__").invoke(FRENCH)
    res = llm.generate([MATHS, FRENCH])
    maths, french = (g[0] for g in res.generations)
    assert french.text == base
    assert french.generation_info["fallback"] is True and french.generation_info["adapter"] is None
    assert "does not exist" in french.generation_info["adapter_error"] and french.generation_info["best"] == "french"
    assert maths.generation_info["fallback"] is False and maths.generation_info["adapter_error"] is None
    assert maths.generation_info["adapter"] == "maths"


def test_resaved_index_is_picked_up_in_process(tmp_path, router, loras):
    folder = tmp_path / "index"
    router.save(folder)
    clear_caches()
    old = AriadneLLM.from_index(folder, max_new_tokens=4, coalesce_window_ms=0)
    assert old.invoke(MATHS, adapter="maths")
    grown = router.__class__.load(folder)
    grown.add_adapter("sql_v2", ["SELECT * FROM users;", "Count the rows of the orders table."], adapter_path=loras["v2"])
    grown.remove_adapter("maths")
    grown.save(folder)
    new = AriadneLLM.from_index(folder, max_new_tokens=4, coalesce_window_ms=0)
    assert new.invoke(MATHS, adapter="sql_v2")  # before: UnknownAdapterError (the cached runtime lacked it)
    assert old.invoke(MATHS, adapter="sql_v2") == new.invoke(MATHS, adapter="sql_v2")  # the old instance reloads too
    with pytest.raises(UnknownAdapterError):
        old.invoke(MATHS, adapter="maths")  # ... and no longer serves the removed adapter
    assert "maths" not in old.generator.adapters and old.generator.route([MATHS])[0].adapter != "maths"
