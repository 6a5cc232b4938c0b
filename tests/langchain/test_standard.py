"""LangChain's own standard test suites (langchain-tests) for ChatAriadne.

Unit tests run on a real routing index (nothing generates). Integration tests run the REAL embedded
SmolLM2-135M-Instruct backbone with real PEFT LoRA adapters: the packaged demo pool when it exists,
else random-init LoRA adapters built once per session (see conftest.real_index).

No standard test is switched off here. Tool calling, structured output, JSON mode and multimodal
inputs skip by themselves (ChatAriadne does not override ``bind_tools``: a 135M local model without
tool calling). ``model_override_value`` names a demo adapter: per call, ``model=`` picks the LoRA
adapter, as with vLLM / LoRAX multi-LoRA servers.
"""
from __future__ import annotations

from typing import Any

import pytest
from langchain_tests.integration_tests import ChatModelIntegrationTests
from langchain_tests.unit_tests import ChatModelUnitTests

from ariadne_integrations.langchain import ChatAriadne


class TestChatAriadneUnit(ChatModelUnitTests):
    _index: str = ""

    @pytest.fixture(autouse=True)
    def _use_index(self, routing_index):
        type(self)._index = str(routing_index)

    @property
    def chat_model_class(self) -> type[ChatAriadne]:
        return ChatAriadne

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {"index": self._index}

    @property
    def model_override_value(self) -> str:
        return "sql"


class TestChatAriadneIntegration(ChatModelIntegrationTests):
    _index: str = ""

    @pytest.fixture(autouse=True)
    def _use_index(self, real_index):
        type(self)._index = str(real_index)

    @property
    def chat_model_class(self) -> type[ChatAriadne]:
        return ChatAriadne

    @property
    def chat_model_params(self) -> dict[str, Any]:
        # Short answers keep the suite to a few minutes on 2 CPU cores.
        return {"index": self._index, "max_tokens": 12}

    @property
    def model_override_value(self) -> str:
        return "sql"
