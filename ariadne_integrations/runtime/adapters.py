"""Many PEFT adapters on one backbone: registration, mixed-adapter batches, streaming.

Why per-call ``adapter_names`` and never ``set_adapter``: ``set_adapter`` is global state on the model,
so two threads that switch adapters interleave. peft's mixed batches pick the adapter
per row inside one ``generate`` call, which is also the fast path (README has the measured figures).

The model itself, shared by all runtimes over one backbone, lives in ``model_pool``; adapter folder
checks in ``adapter_folders``; stop-string cutting (shared with the server backend) in ``stops``.
"""
from __future__ import annotations

import logging
import os
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from ariadne_integrations.constants import BASE_ADAPTER, DEFAULT_BACKBONE_ID
from ariadne_integrations.devices import check_device, check_dtype, resolve_device
from ariadne_integrations.errors import AdapterLoadError, InvalidInputError, PartialBatchError, PromptTooLongError, UnknownAdapterError
from ariadne_integrations.runtime.adapter_folders import check_adapter_folder, peft_name
from ariadne_integrations.runtime.backbone import Backbone, load_backbone
from ariadne_integrations.runtime.constrained import RowGrammars, compile_schemas
from ariadne_integrations.runtime.fast_decode import decode_like_generate
from ariadne_integrations.runtime.generation import (
    CompletionScore,
    GenerationConfig,
    GenerationResult,
    Prompt,
    StreamChunk,
    schema_text,
)
from ariadne_integrations.runtime.mixed_lora import fast_mixed_batch
from ariadne_integrations.runtime.model_pool import SharedModel, shared_model_for
from ariadne_integrations.runtime.stops import StopHoldBack, cut_at_stop

logger = logging.getLogger(__name__)

__all__ = ["AdapterRuntime"]


class AdapterRuntime:
    """A GenerationBackend over a local backbone with named PEFT adapters.

    Adapters are registered by name and loaded on first use; at most ``max_loaded_adapters`` stay
    in memory (least recently used are unloaded; a batch may need more, then all it needs stay).
    Safe to call from several threads: model calls are serialised and the adapter is chosen per
    row, so concurrent calls never leak adapters into each other. ``fast_mixed_lora=False`` uses
    peft's own per-adapter loop for mixed batches instead of ``mixed_lora.fast_mixed_batch``.
    ``fast_decode=False`` decodes with transformers' ``generate`` instead of ``fast_decode.FastDecoder``
    (static KV cache, fused products; used for Llama-family backbones, else ``generate`` answers anyway).
    ``device`` ("auto": CUDA when available, else CPU; "cpu", "cuda", "cuda:N", "mps") and ``dtype``
    (None / "auto": bfloat16 or float16 on a GPU, float32 on CPU and MPS) say where and how the backbone
    loads (``ariadne_integrations.devices``); adapters load onto the same device.
    """

    def __init__(
        self,
        backbone: str | os.PathLike[str] | Backbone | None = None,
        adapters: Mapping[str, str | os.PathLike[str]] | None = None,
        *,
        max_loaded_adapters: int = 8,
        fast_mixed_lora: bool = True,
        fast_decode: bool = True,
        device: str | None = "auto",
        dtype: Any = None,
    ) -> None:
        if not isinstance(max_loaded_adapters, int) or max_loaded_adapters < 1:
            raise InvalidInputError(f"max_loaded_adapters must be a positive int, got {max_loaded_adapters!r}")
        for flag, value in (("fast_mixed_lora", fast_mixed_lora), ("fast_decode", fast_decode)):
            if not isinstance(value, bool):
                raise InvalidInputError(f"{flag} must be True or False, got {value!r}")
        self._backbone_spec = backbone
        # Spelling checked now (torch-free); whether the device is there is asked when the backbone loads.
        self._device_spec = check_device(device)
        self._dtype_spec: Any = dtype if dtype is None or not isinstance(dtype, str) else check_dtype(dtype)
        self._backbone: Backbone | None = backbone if isinstance(backbone, Backbone) else None
        self.max_loaded_adapters = max_loaded_adapters
        self.fast_mixed_lora = fast_mixed_lora
        self.fast_decode = fast_decode
        self._registry: dict[str, Path] = {}
        self._reg_lock = threading.Lock()
        for name, path in (adapters or {}).items():
            self.register_adapter(name, path)

    # ------------------------------------------------------------------ model + registry
    @property
    def backbone(self) -> Backbone:
        """The loaded backbone (loaded on first use, so constructing a runtime stays cheap)."""
        if self._backbone is None:
            self._backbone = load_backbone(self._backbone_spec, device=self._device_spec, dtype=self._dtype_spec)
        return self._backbone

    @property
    def device(self) -> str:
        """Where the backbone runs (``"cpu"``, ``"cuda:N"``, ``"mps"``); asks the machine before the model loads."""
        if self._backbone is not None:
            return self._backbone.device
        return resolve_device(self._device_spec)

    @property
    def model_name(self) -> str:
        """The backbone's name for traces and metadata, known without loading the model."""
        if self._backbone is not None:
            return self._backbone.name
        if self._backbone_spec is None:
            return DEFAULT_BACKBONE_ID
        return str(self._backbone_spec)

    def _shared(self) -> SharedModel:
        return shared_model_for(self.backbone)

    def register_adapter(self, name: str, path: str | os.PathLike[str], *, strict: bool = True) -> None:
        """Make an adapter folder available under ``name`` (weights load on first use).

        ``strict=False`` registers a folder even when it is missing or broken now: its rows then fail
        with ``AdapterLoadError`` at generation (an index with one bad adapter still serves the others).
        """
        if not isinstance(name, str) or not name.strip() or name == BASE_ADAPTER:
            raise InvalidInputError(f"adapter name must be a non-empty string other than {BASE_ADAPTER!r}, got {name!r}")
        try:
            folder = check_adapter_folder(path)
        except AdapterLoadError as exc:
            if strict:
                raise
            logger.warning("adapter %s: %s; its queries will fail until the folder is fixed", name, exc)
            folder = Path(path).expanduser().resolve()
        with self._reg_lock:
            self._registry[name] = folder

    def unregister_adapter(self, name: str) -> None:
        """Forget an adapter: its weights are freed and its name becomes unknown."""
        self.unload_adapter(name)
        with self._reg_lock:
            self._registry.pop(name, None)

    def unload_adapter(self, name: str) -> None:
        """Free an adapter's weights; it stays registered and reloads on next use."""
        folder = self._folder(name)
        if self._backbone is not None:
            self._shared().unload(peft_name(folder))

    def adapter_folder(self, name: str) -> Path:
        """The resolved folder registered under ``name`` (UnknownAdapterError when none is)."""
        return self._folder(name)

    def has_adapter(self, name: str) -> bool:
        """Whether ``name`` is registered (loaded or not), as GenerationBackend asks."""
        return name in self._registry

    @property
    def registered_adapters(self) -> list[str]:
        """Names of all registered adapters, in registration order."""
        return list(self._registry)

    @property
    def loaded_adapters(self) -> list[str]:
        """Names of the registered adapters whose weights are in memory now."""
        if self._backbone is None:
            return []
        loaded = set(self._shared().loaded)
        return [n for n, f in self._registry.items() if peft_name(f) in loaded]

    def load_adapter(self, name: str) -> None:
        """Load an adapter now (normally it loads on first use)."""
        self._shared().ensure([self._folder(name)], self.max_loaded_adapters)

    def _folder(self, name: str) -> Path:
        try:
            return self._registry[name]
        except KeyError:
            known = ", ".join(sorted(self._registry)) or "none"
            raise UnknownAdapterError(f"unknown adapter {name!r}; registered adapters: {known}") from None

    # ------------------------------------------------------------------ prompts
    def _render(self, prompt: Prompt, config: GenerationConfig) -> str:
        tok = self.backbone.tokenizer
        if isinstance(prompt, str):
            if config.apply_chat_template and self.backbone.has_chat_template:
                return tok.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True)
            return prompt
        return tok.apply_chat_template(list(prompt), tokenize=False, add_generation_prompt=True)

    def _encode(self, prompts: Sequence[Prompt], config: GenerationConfig) -> tuple[Any, list[int]]:
        tok = self.backbone.tokenizer
        limit = self.backbone.context_window - config.max_new_tokens
        if limit < 1:
            raise InvalidInputError(
                f"max_new_tokens={config.max_new_tokens} leaves no room in the {self.backbone.context_window}-token context"
            )
        ids: list[list[int]] = []
        for i, p in enumerate(prompts):
            enc = tok(self._render(p, config), add_special_tokens=False)["input_ids"]
            if len(enc) > limit:
                raise PromptTooLongError(
                    f"prompts[{i}] has {len(enc)} tokens (chat template included), but the backbone's "
                    f"{self.backbone.context_window}-token context leaves {limit} after max_new_tokens="
                    f"{config.max_new_tokens}: shorten the text by at least {len(enc) - limit} tokens (keep the "
                    "instruction), or lower max_new_tokens", prompt_tokens=len(enc), limit=limit)
            ids.append(enc)
        batch = tok.pad({"input_ids": ids}, padding=True, return_tensors="pt")
        if self.backbone.device != "cpu":
            batch = batch.to(self.backbone.device)
        return batch, [len(x) for x in ids]

    @staticmethod
    def _validate(prompts: Sequence[Prompt], adapters: Sequence[str | None]) -> None:
        if isinstance(prompts, (str, bytes)) or not isinstance(prompts, Sequence):
            raise InvalidInputError("prompts must be a list of prompts (strings or chat message lists)")
        if len(prompts) == 0:
            raise InvalidInputError("the prompt list is empty; give at least one prompt")
        if isinstance(adapters, (str, bytes)) or len(adapters) != len(prompts):
            raise InvalidInputError(f"adapters must be a list with one entry per prompt ({len(prompts)}), got {adapters!r:.80}")
        for i, p in enumerate(prompts):
            if isinstance(p, str):
                if not p.strip():
                    raise InvalidInputError(f"prompts[{i}] is empty; give the text to answer")
            elif isinstance(p, Sequence) and p and all(
                isinstance(m, Mapping) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str) for m in p
            ):
                continue
            else:
                raise InvalidInputError(f"prompts[{i}] must be a non-empty string or a list of role/content dicts, got {p!r:.80}")

    def _gen_kwargs(self, config: GenerationConfig, grammars: RowGrammars | None = None) -> dict[str, Any]:
        kw: dict[str, Any] = {
            "max_new_tokens": config.max_new_tokens,
            "do_sample": config.do_sample,
            "pad_token_id": self.backbone.tokenizer.pad_token_id,
        }
        if config.do_sample:
            kw.update(temperature=config.temperature, top_p=config.top_p)
            if config.top_k is not None:
                kw["top_k"] = config.top_k
        else:
            kw.update(temperature=None, top_p=None, top_k=None)
        if config.repetition_penalty is not None:
            kw["repetition_penalty"] = config.repetition_penalty
        if grammars is not None:
            # The grammar decides where a structured row ends. Stop strings are not a stopping criterion
            # then (one inside a JSON string value would cut it); free rows are cut at them afterwards.
            from transformers import LogitsProcessorList

            kw["logits_processor"] = LogitsProcessorList([grammars])
        elif config.stop:
            kw["stop_strings"] = list(config.stop)
            kw["tokenizer"] = self.backbone.tokenizer
        return kw

    def _grammars(self, schemas: Sequence[str | None]) -> RowGrammars | None:
        """The per-row constrained-decoding processor, or None when no row has a schema."""
        if all(s is None for s in schemas):
            return None
        bb = self.backbone
        return compile_schemas(bb.model, bb.tokenizer, schemas)

    @staticmethod
    def _row_schemas(n: int, config: GenerationConfig, json_schemas: Sequence[str | None] | None) -> list[str | None]:
        if json_schemas is None:
            return [config.json_schema] * n
        if isinstance(json_schemas, (str, bytes)) or len(json_schemas) != n:
            raise InvalidInputError(f"json_schemas must be a list with one entry (a schema or None) per prompt ({n})")
        return [None if s is None else schema_text(s) for s in json_schemas]

    def _adapter_names(self, adapters: Sequence[str | None]) -> tuple[list[str] | None, dict[int, AdapterLoadError]]:
        """peft's per-row adapter names (loading what is needed; None when no row uses an adapter), and
        the rows whose adapter failed to load with its error (their name is BASE_ADAPTER)."""
        used = [a for a in adapters if a is not None]
        if not used:
            return None, {}
        unique = list(dict.fromkeys(self._folder(a) for a in used))
        failed: dict[Path, AdapterLoadError] = {}
        peft_names = dict(zip(unique, self._shared().ensure(unique, self.max_loaded_adapters, errors=failed)))
        errors = {i: failed[self._folder(a)] for i, a in enumerate(adapters) if a is not None and self._folder(a) in failed}
        return [peft_names[self._folder(a)] or BASE_ADAPTER if a is not None else BASE_ADAPTER for a in adapters], errors

    # ------------------------------------------------------------------ generation
    def _fast_generate(self, shared: SharedModel, batch: Any, names: list[str] | None, kw: dict[str, Any]) -> Any:
        """The same call through ``fast_decode`` (None when it cannot serve this model or these adapters)."""
        decoder = shared.fast_decoder() if self.fast_decode else None
        if decoder is None:
            return None
        plan = None
        if names is not None and shared.peft is not None and shared.loaded:
            planned = shared.lora_plan(names)
            if isinstance(planned, str):
                logger.info("adapters %s use transformers' generate: %s", sorted(set(names)), planned)
                return None
            plan = planned
        return decode_like_generate(decoder, batch, plan, kw, shared.backbone.tokenizer,
                                    shared.backbone.model.generation_config)

    @contextmanager
    def _per_row_adapters(self, shared: SharedModel, names: list[str] | None) -> Iterator[tuple[Any, dict[str, Any]]]:
        """The model to call and the keyword arguments that give each row its own adapter (``shared.lock`` held);
        rows without an adapter use peft's BASE_ADAPTER (never global adapter state)."""
        if shared.peft is None or not shared.loaded:
            # No adapter in memory: the (possibly LoRA-injected, now empty) base model answers alone.
            yield shared.backbone.model, {}
        elif names is None:
            # No row uses an adapter: switch them all off for this call (cheaper than per-row
            # BASE_ADAPTER masks). This is global state, but every model call holds shared.lock.
            with shared.peft.disable_adapter():
                yield shared.peft, {}
        elif not self.fast_mixed_lora:
            yield shared.peft, {"adapter_names": names}
        else:
            with fast_mixed_batch(shared.peft, names):  # per-row LoRA weights gathered once per call
                yield shared.peft, {"adapter_names": names}

    def _call_generate(self, shared: SharedModel, batch: Any, names: list[str] | None, kw: dict[str, Any]) -> Any:
        """One ``generate``, each row with its own adapter."""
        fast = self._fast_generate(shared, batch, names, kw)
        if fast is not None:
            return fast
        with self._per_row_adapters(shared, names) as (model, per_row):
            return model.generate(**batch, **per_row, **kw)

    def generate(
        self,
        prompts: Sequence[Prompt],
        adapters: Sequence[str | None] | None = None,
        config: GenerationConfig | None = None,
        *,
        json_schemas: Sequence[str | None] | None = None,
    ) -> list[GenerationResult]:
        """Generate for every prompt with its own adapter (None = bare backbone) in ONE batched call.

        ``json_schemas`` (one per prompt, None = free text) overrides ``config.json_schema`` per row:
        rows with a schema are decoded under that schema's grammar, the others freely, in the same call.

        An adapter that fails to load fails only its rows: a one-prompt call raises its ``AdapterLoadError``;
        a larger one raises ``PartialBatchError`` holding the other rows' results. A prompt that does not
        fit the context raises ``PromptTooLongError`` (nothing is truncated).
        """
        config = config or GenerationConfig()
        adapters = [None] * len(prompts) if adapters is None else list(adapters)
        self._validate(prompts, adapters)
        schemas = self._row_schemas(len(prompts), config, json_schemas)
        for a in adapters:
            if a is not None:
                self._folder(a)  # unknown adapter -> error before any work
        grammars = self._grammars(schemas)
        shared = self._shared()
        with shared.lock:
            names, errors = self._adapter_names(adapters)
            if not errors:
                return self._run(shared, prompts, adapters, names, config, schemas, grammars)
            # Only the rows of the adapter that failed to load fail; the others are answered in one batch.
            first = errors[min(errors)]
            if len(prompts) == 1:
                raise first
            keep = [i for i in range(len(prompts)) if i not in errors]
            results: list[GenerationResult | None] = [None] * len(prompts)
            if keep:
                sub_adapters = [adapters[i] for i in keep]
                sub_names = None if names is None or all(a is None for a in sub_adapters) else [names[i] for i in keep]
                sub_schemas = [schemas[i] for i in keep]
                answered = self._run(shared, [prompts[i] for i in keep], sub_adapters, sub_names, config, sub_schemas,
                                     self._grammars(sub_schemas))
                for i, r in zip(keep, answered):
                    results[i] = r
        raise PartialBatchError(f"{len(errors)} of {len(prompts)} prompts could not be answered: {first}",
                                results=results, row_errors=dict(errors))

    def score_completions(
        self,
        prompts: Sequence[Prompt],
        completions: Sequence[str],
        adapters: Sequence[str | None] | None = None,
        config: GenerationConfig | None = None,
        *,
        end_of_answer: bool = True,
        chunk_size: int = 16,
    ) -> list[CompletionScore]:
        """Log-probability of each completion after its prompt under its own adapter (None = bare backbone),
        teacher-forced in mixed-adapter forward passes of ``chunk_size`` rows (no decoding).

        Why: an answer's likelihood under an adapter is the usual way to ask a model which of several answers
        it prefers (evaluation harnesses score choices so; rerankers compare candidates). ``bench_recoup.py``
        uses it to test whether the adapters can choose between the router's two best. ``end_of_answer`` also
        scores the end-of-sequence token after the completion (how sure the adapter is that the answer
        ends there). The prompt is rendered as :meth:`generate` renders it (``config.apply_chat_template``).
        """
        import torch

        config = config or GenerationConfig()
        adapters = [None] * len(prompts) if adapters is None else list(adapters)
        self._validate(prompts, adapters)
        if isinstance(completions, (str, bytes)) or not isinstance(completions, Sequence) or len(completions) != len(prompts):
            raise InvalidInputError(f"completions must be a list with one string per prompt ({len(prompts)})")
        for i, c in enumerate(completions):
            if not isinstance(c, str):
                raise InvalidInputError(f"completions[{i}] must be a string, got {type(c).__name__}")
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
            raise InvalidInputError(f"chunk_size must be a positive int, got {chunk_size!r}")
        for a in adapters:
            if a is not None:
                self._folder(a)
        tok = self.backbone.tokenizer
        eos = [tok.eos_token_id] if end_of_answer and tok.eos_token_id is not None else []
        rows: list[tuple[list[int], list[int]]] = []
        for i, (p, c) in enumerate(zip(prompts, completions)):
            head = tok(self._render(p, config), add_special_tokens=False)["input_ids"]
            tail = tok(c, add_special_tokens=False)["input_ids"] + eos if c else list(eos)
            if not tail:
                raise InvalidInputError(f"completions[{i}] is empty and end_of_answer=False: nothing to score")
            if len(head) + len(tail) > self.backbone.context_window:
                raise PromptTooLongError(
                    f"prompts[{i}] with its completion has {len(head) + len(tail)} tokens, over the backbone's "
                    f"{self.backbone.context_window}-token context: shorten the prompt or the completion",
                    prompt_tokens=len(head) + len(tail), limit=self.backbone.context_window)
            rows.append((head, tail))
        pad = tok.pad_token_id if tok.pad_token_id is not None else 0
        shared = self._shared()
        scores: list[CompletionScore] = []
        with shared.lock:
            names, errors = self._adapter_names(adapters)
            if errors:
                raise errors[min(errors)]
            for start in range(0, len(rows), chunk_size):
                part = rows[start:start + chunk_size]
                width = max(len(h) + len(t) for h, t in part)
                ids = torch.full((len(part), width), pad, dtype=torch.long)
                mask = torch.zeros((len(part), width), dtype=torch.long)
                for r, (h, t) in enumerate(part):  # right padding: positions count from 0 in every row
                    ids[r, :len(h) + len(t)] = torch.tensor(h + t)
                    mask[r, :len(h) + len(t)] = 1
                dev = self.backbone.device
                batch = {"input_ids": ids.to(dev), "attention_mask": mask.to(dev)}
                sub = None if names is None else names[start:start + chunk_size]
                with torch.inference_mode():
                    logits = self._forward(shared, batch, sub).float()
                    logp = torch.log_softmax(logits[:, :-1], dim=-1)
                    picked = logp.gather(-1, ids[:, 1:].to(logp.device).unsqueeze(-1)).squeeze(-1)
                for r, (h, t) in enumerate(part):
                    total = picked[r, len(h) - 1:len(h) + len(t) - 1].sum().item()
                    scores.append(CompletionScore(logprob=float(total), tokens=len(t)))
        return scores

    def _forward(self, shared: SharedModel, batch: Any, names: list[str] | None) -> Any:
        """Logits of one forward pass, each row under its own adapter (``shared.lock`` held)."""
        with self._per_row_adapters(shared, names) as (model, per_row):
            return model(**batch, **per_row).logits

    def _run(self, shared: SharedModel, prompts: Sequence[Prompt], adapters: Sequence[str | None], names: list[str] | None,
             config: GenerationConfig, schemas: Sequence[str | None], grammars: RowGrammars | None) -> list[GenerationResult]:
        """One ``generate`` over rows whose adapters are loaded (``shared.lock`` held)."""
        import torch

        batch, prompt_lens = self._encode(prompts, config)
        kw = self._gen_kwargs(config, grammars)
        if config.seed is not None:
            torch.manual_seed(config.seed)
        with torch.inference_mode():
            out = self._call_generate(shared, batch, names, kw)
        new = out[:, batch["input_ids"].shape[1]:]
        complete = grammars.completed(out) if grammars is not None else [True] * len(prompts)
        results = []
        for i in range(len(prompts)):
            constrained = None if schemas[i] is None else complete[i]
            results.append(self._finish(new[i].tolist(), prompt_lens[i], adapters[i], config, constrained))
        return results

    def _finish(self, token_ids: list[int], prompt_len: int, adapter: str | None, config: GenerationConfig,
                constrained: bool | None = None) -> GenerationResult:
        """One row's result. ``constrained``: None for a free row, else whether its JSON is complete. A
        constrained row is never cut at stop strings, and ``finish_reason="length"`` means the token limit
        cut its JSON."""
        tok = self.backbone.tokenizer
        stops = {tok.eos_token_id, tok.pad_token_id}
        n = 0
        hit_eos = False
        for t in token_ids:
            if t in stops:
                hit_eos = True
                break
            n += 1
        text = tok.decode(token_ids[:n], skip_special_tokens=True)
        if constrained is not None:
            return GenerationResult(text=text, adapter=adapter, prompt_tokens=prompt_len, completion_tokens=n,
                                    finish_reason="stop" if (hit_eos or constrained) else "length")
        text, stop_seq = cut_at_stop(text, config.stop)
        finish = "stop" if (hit_eos or stop_seq is not None) else "length"
        return GenerationResult(text=text, adapter=adapter, prompt_tokens=prompt_len, completion_tokens=n,
                                finish_reason=finish, stop_sequence=stop_seq)

    def stream(self, prompt: Prompt, adapter: str | None = None, config: GenerationConfig | None = None) -> Iterator[StreamChunk]:
        """Yield text deltas for one prompt; the final chunk carries token counts and finish reason."""
        import torch
        from transformers import TextIteratorStreamer

        config = config or GenerationConfig()
        self._validate([prompt], [adapter])
        if adapter is not None:
            self._folder(adapter)
        tok = self.backbone.tokenizer
        constrained = config.json_schema is not None
        grammars = self._grammars([config.json_schema])
        shared = self._shared()
        streamer = TextIteratorStreamer(tok, skip_prompt=True, skip_special_tokens=True, timeout=600)
        result: dict[str, Any] = {}

        def run() -> None:
            try:
                with shared.lock:
                    names, errors = self._adapter_names([adapter])
                    if errors:
                        raise errors[0]
                    batch, lens = self._encode([prompt], config)
                    result["prompt_len"] = lens[0]
                    kw = self._gen_kwargs(config, grammars)
                    if config.seed is not None:
                        torch.manual_seed(config.seed)
                    with torch.inference_mode():
                        out = self._call_generate(shared, batch, names, {**kw, "streamer": streamer})
                    result["tokens"] = out[0, batch["input_ids"].shape[1]:].tolist()
                    result["complete"] = grammars.completed(out)[0] if grammars is not None else None
            except BaseException as exc:  # noqa: BLE001 - surfaced to the consumer below
                result["error"] = exc
                streamer.end()

        worker = threading.Thread(target=run, name="ariadne-stream", daemon=True)
        worker.start()
        held = StopHoldBack(() if constrained else config.stop)
        for piece in streamer:  # after a stop string, keep draining: the model stops on its own (stop_strings)
            text = held.feed(piece)
            if text:
                yield StreamChunk(text=text, adapter=adapter)
        worker.join()
        if "error" in result:
            raise result["error"]
        rest = held.flush()
        if rest:
            yield StreamChunk(text=rest, adapter=adapter)
        final = self._finish(result["tokens"], result["prompt_len"], adapter, config, result["complete"])
        yield StreamChunk(text="", final=True, adapter=adapter, prompt_tokens=final.prompt_tokens,
                          completion_tokens=final.completion_tokens, finish_reason=final.finish_reason)
