"""The main demo's splitter and end-to-end run; lazy imports of the LangChain side."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ariadne_integrations.demo.__main__ import DEFAULT_REQUEST, split_request


def test_split_request_is_deterministic():
    assert split_request("a; b\nc and then d") == ["a", "b", "c", "d"]
    assert split_request("Translate to SQL: list users. Classify the sentiment: bad lamp.") == [
        "Translate to SQL: list users.", "Classify the sentiment: bad lamp."]
    # a task phrased as a question keeps its '?' when other separators exist
    assert split_request("What is the date in ISO format? Due May 1, 2024; Write SQL: count users") == [
        "What is the date in ISO format? Due May 1, 2024", "Write SQL: count users"]
    assert len(split_request(DEFAULT_REQUEST)) == 5
    with pytest.raises(ValueError, match="empty"):
        split_request("  ")


def test_import_package_does_not_import_langchain():
    code = ("import sys, ariadne_integrations, ariadne_integrations.core.options, ariadne_integrations.core.generator; "
            "bad=[m for m in sys.modules if m.split('.')[0] in ('langchain_core','llama_index','torch','transformers')]; "
            "assert not bad, bad; "
            "from ariadne_integrations.langchain import AriadneLLM, ChatAriadne, AriadneRouterRunnable; "
            "assert 'torch' not in sys.modules; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


@pytest.mark.slow
def test_demo_main_routes_each_subquery_to_its_demo_adapter(capsys):
    from ariadne_integrations.demo import demo_adapter_paths
    from ariadne_integrations.demo.__main__ import main

    try:
        demo_adapter_paths()
    except FileNotFoundError:
        pytest.skip("the packaged demo pool is not built")
    assert main(["--json", "--max-new-tokens", "12"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["adapter"] for r in rows] == ["sentiment", "sql", "date_iso", "support_intent", "sentiment"]
    assert all(0 < r["score"] <= 1 and isinstance(r["answer"], str) for r in rows)
