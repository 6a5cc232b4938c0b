"""AriadneLLM: a LangChain ``BaseLLM`` that routes every prompt to its LoRA adapter.

Why a ``BaseLLM`` (not ``LLM``): ``BaseLLM.batch`` hands the whole list to ``_generate``, so a
chain's ``batch`` is routed in one embedding pass and generated in one mixed-adapter batch.
Each generation's ``generation_info`` carries the routing decision, so traces show which adapter
answered.
"""
from __future__ import annotations

import asyncio
import os
from typing import Any, AsyncIterator, Iterator

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models.llms import BaseLLM
from langchain_core.outputs import Generation, GenerationChunk, LLMResult
from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import get_config_list
from pydantic import ConfigDict, field_validator

from ariadne_integrations.core.async_bridge import aiter_in_thread
from ariadne_integrations.core.prompts import check_route_text, validate_prompt
from ariadne_integrations.core.structured import parse_structured
from ariadne_integrations.errors import InvalidInputError, PartialBatchError
from ariadne_integrations.langchain._base import AriadneLangChainBase, token_usage

__all__ = ["AriadneLLM"]


class AriadneLLM(AriadneLangChainBase, BaseLLM):
    """Routed text completion on one backbone with many LoRA adapters.

    Construct from keyword arguments alone (nothing loads until the first call)::

        llm = AriadneLLM(index="index_dir", max_new_tokens=32)      # adapters from the index
        llm = AriadneLLM.from_index(demo_index_path(), adapter="sql")   # force one adapter
        llm = AriadneLLM(index="index_dir", base_url="http://127.0.0.1:8000/v1")  # vLLM / LoRAX server

    Per call, ``adapter=`` (or ``model=``) forces an adapter, and ``max_new_tokens``,
    ``temperature``, ``top_p``, ``top_k``, ``seed``, ``repetition_penalty`` override the defaults.
    """

    model_config = ConfigDict(extra="forbid")  # a misspelt keyword is an error, not silently ignored

    route_on: Any = "prompt"
    """What is routed: ``"prompt"`` (the whole prompt) or a callable ``str -> str`` (e.g. extract the question)."""

    @field_validator("route_on")
    @classmethod
    def _check_route_on(cls, v: Any) -> Any:
        if v != "prompt" and not callable(v):
            raise InvalidInputError(f"route_on must be 'prompt' or a callable str -> str, got {v!r}")
        return v

    @classmethod
    def from_index(cls, index: str | os.PathLike[str], **kwargs: Any) -> AriadneLLM:
        """Routed LLM over a saved index (backbone default: the embedded SmolLM2)."""
        return cls(index=index, **kwargs)

    @property
    def _llm_type(self) -> str:
        return "ariadne"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return self._identifying()

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> Any:
        return self._ls_common(super()._get_ls_params(stop=stop, **kwargs), stop, kwargs)

    def _route_texts(self, prompts: list[str]) -> list[str] | None:
        if self.route_on == "prompt":
            return None
        return [check_route_text(self.route_on(p), f"route_on for prompts[{i}]") for i, p in enumerate(prompts)]

    # ------------------------------------------------------------------ generation
    def _generate(
        self,
        prompts: list[str],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> LLMResult:
        """Route the whole batch once and answer it in one mixed-adapter backend call (concurrent
        calls are coalesced into the same batch: ``coalesce_window_ms``)."""
        gen, args, call = self._prepare(prompts, stop, kwargs)
        return self._result(gen, gen.generate(*args, **call), args[1])

    async def _agenerate(
        self,
        prompts: list[str],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> LLMResult:
        """Same as ``_generate`` without blocking the event loop: concurrent ``ainvoke`` calls wait
        for their shared batch without holding worker threads."""
        if callable(self.route_on):  # a user's routing function might block: not on the event loop
            gen, args, call = await asyncio.to_thread(self._prepare, prompts, stop, kwargs)
        else:
            gen, args, call = self._prepare(prompts, stop, kwargs)
        return self._result(gen, await gen.agenerate(*args, **call), args[1])

    def _prepare(self, prompts: list[str], stop: list[str] | None, kwargs: dict[str, Any]) -> tuple[Any, tuple[Any, ...], dict[str, Any]]:
        gen = self.generator
        for i, p in enumerate(prompts):
            validate_prompt(p, i)
        adapter, config = self._call_settings(stop, kwargs)
        return gen, (prompts, config), {"route_texts": self._route_texts(prompts), "adapter": adapter}

    @staticmethod
    def _result(gen: Any, routed: list[Any], config: Any) -> LLMResult:
        if config.json_schema is not None:  # json_schema=...: a cut answer is an error, never unparsable text
            for r in routed:
                parse_structured(r.text, r.result.finish_reason, config)
        generations = [[Generation(text=r.text, generation_info=r.metadata())] for r in routed]
        return LLMResult(generations=generations,
                         llm_output={"token_usage": token_usage(routed), "model_name": gen.model_name})

    def _stream(
        self,
        prompt: str,
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[GenerationChunk]:
        for chunk in self._chunks(prompt, stop, kwargs):
            if run_manager is not None:
                run_manager.on_llm_new_token(chunk.text, chunk=chunk)
            yield chunk

    async def _astream(
        self,
        prompt: str,
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[GenerationChunk]:
        """Streams on the event loop when the backend is async (an OpenAI-compatible server), else from
        a worker thread."""
        if self.generator.has_async_backend:
            chunks: AsyncIterator[GenerationChunk] = self._achunks(prompt, stop, kwargs)
        else:
            chunks = aiter_in_thread(lambda: self._chunks(prompt, stop, kwargs))
        async for chunk in chunks:
            if run_manager is not None:
                await run_manager.on_llm_new_token(chunk.text, chunk=chunk)
            yield chunk

    def _stream_args(self, prompt: str, stop: list[str] | None, kwargs: dict[str, Any]) -> tuple[Any, Any, dict[str, Any]]:
        gen = self.generator
        validate_prompt(prompt)
        adapter, config = self._call_settings(stop, kwargs)
        texts = self._route_texts([prompt])
        return gen, config, {"route_text": None if texts is None else texts[0], "adapter": adapter}

    @staticmethod
    def _chunk(c: Any, text: list[str], config: Any, stream: Any) -> GenerationChunk | None:
        """One backend chunk as a GenerationChunk (None for an empty one); the final one carries the metadata."""
        text.append(c.text)
        if c.final:
            if config.json_schema is not None:
                parse_structured("".join(text), c.finish_reason, config)
            return GenerationChunk(text=c.text, generation_info=stream.metadata())
        return GenerationChunk(text=c.text) if c.text else None

    def _chunks(self, prompt: str, stop: list[str] | None, kwargs: dict[str, Any]) -> Iterator[GenerationChunk]:
        gen, config, call = self._stream_args(prompt, stop, kwargs)
        stream = gen.stream(prompt, config, **call)
        text: list[str] = []
        for c in stream:
            out = self._chunk(c, text, config, stream)
            if out is not None:
                yield out
            if c.final:
                return

    async def _achunks(self, prompt: str, stop: list[str] | None, kwargs: dict[str, Any]) -> AsyncIterator[GenerationChunk]:
        if callable(self.route_on):  # a user's routing function might block: not on the event loop
            gen, config, call = await asyncio.to_thread(self._stream_args, prompt, stop, kwargs)
        else:
            gen, config, call = self._stream_args(prompt, stop, kwargs)
        stream = await gen.astream(prompt, config, **call)
        text: list[str] = []
        try:
            async for c in stream:
                out = self._chunk(c, text, config, stream)
                if out is not None:
                    yield out
                if c.final:
                    return
        finally:
            await stream.aclose()

    # ------------------------------------------------------------------ per-prompt failure isolation
    def _split_bad_inputs(
        self, inputs: list[Any], config: Any, return_exceptions: bool
    ) -> tuple[list[Any], list[RunnableConfig], list[int]]:
        """(results holding each bad input's error, per-input configs, indices still to answer).

        Without ``return_exceptions`` the first bad input raises here, before any model work.
        """
        errors = self._precheck(inputs)
        if errors and not return_exceptions:
            raise errors[min(errors)]
        ok = [i for i in range(len(inputs)) if i not in errors]
        return [errors.get(i) for i in range(len(inputs))], get_config_list(config, len(inputs)), ok

    def _precheck(self, inputs: list[Any]) -> dict[int, Exception]:
        """Validate every input on its own (cheap, no model) so one bad prompt fails alone."""
        errors: dict[int, Exception] = {}
        for i, item in enumerate(inputs):
            try:
                validate_prompt(self._convert_input(item).to_string(), i)
            except InvalidInputError as exc:
                errors[i] = exc
            except Exception as exc:  # noqa: BLE001 - LangChain's "Invalid input type" ValueError
                errors[i] = InvalidInputError(f"inputs[{i}]: {exc}")
                errors[i].__cause__ = exc
        return errors

    def batch(
        self,
        inputs: list[Any],
        config: RunnableConfig | list[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> list[str]:
        """One routed, mixed-adapter call for the whole list; with ``return_exceptions`` each bad
        prompt gets its own exception and the others are still answered."""
        if not inputs:
            return []
        out, configs, ok = self._split_bad_inputs(inputs, config, return_exceptions)
        if not return_exceptions:
            return super().batch(inputs, config, **kwargs)
        if ok:
            res = super().batch([inputs[i] for i in ok], [configs[i] for i in ok], return_exceptions=True, **kwargs)
            if len(ok) > 1 and _failed_together(res):
                res = _rows_of(res[0], len(ok)) or [self._invoke_or_error(inputs[i], configs[i], **kwargs) for i in ok]
            for i, r in zip(ok, res):
                out[i] = r
        return out

    async def abatch(
        self,
        inputs: list[Any],
        config: RunnableConfig | list[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> list[str]:
        """Async :meth:`batch` (awaited on the loop for an async backend, else in a worker thread)."""
        if not inputs:
            return []
        out, configs, ok = self._split_bad_inputs(inputs, config, return_exceptions)
        if not return_exceptions:
            return await super().abatch(inputs, config, **kwargs)
        if ok:
            res: list[Any] = await super().abatch([inputs[i] for i in ok], [configs[i] for i in ok],
                                                  return_exceptions=True, **kwargs)
            if len(ok) > 1 and _failed_together(res) and (rows := _rows_of(res[0], len(ok))) is not None:
                res = rows
            elif len(ok) > 1 and _failed_together(res):
                res = []
                for i in ok:
                    try:
                        res.append(await self.ainvoke(inputs[i], configs[i], **kwargs))
                    except Exception as exc:  # noqa: BLE001 - reported per prompt
                        res.append(exc)
            for i, r in zip(ok, res):
                out[i] = r
        return out

    def _invoke_or_error(self, item: Any, config: RunnableConfig, **kwargs: Any) -> Any:
        try:
            return self.invoke(item, config, **kwargs)
        except Exception as exc:  # noqa: BLE001 - reported per prompt
            return exc


def _rows_of(exc: Any, n: int) -> list[Any] | None:
    """Each row's answer or own error when the one batched call failed only for some rows' adapters
    (PartialBatchError: the other rows were answered in that same call); None otherwise."""
    if not isinstance(exc, PartialBatchError) or len(exc.results) != n:
        return None
    return [exc.row_errors.get(i, exc) if r is None else r.text for i, r in enumerate(exc.results)]


def _failed_together(results: list[Any]) -> bool:
    """BaseLLM.batch reports one failure of the whole call as the same exception for every input."""
    return bool(results) and isinstance(results[0], BaseException) and all(r is results[0] for r in results)

