"""Many PEFT adapters on one backbone: lazy loading with an LRU bound, mixed-adapter batches, streaming.

Why per-call ``adapter_names`` and never ``set_adapter``: ``set_adapter`` is global state on the model,
so two threads that switch adapters interleave (NOTES.md §4). peft's mixed batches pick the adapter
per row inside one ``generate`` call, which is also the fast path (4.3 s vs 25.5 s one by one).

All runtimes over the same backbone share one PeftModel (adapters are named in peft by a hash of
their folder), so two runtimes never wrap the same base model twice, and one lock per backbone
serialises model calls.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from ariadne_integrations.errors import AdapterLoadError, InvalidInputError, UnknownAdapterError
from ariadne_integrations.runtime.backbone import Backbone, load_backbone
from ariadne_integrations.runtime.generation import GenerationConfig, GenerationResult, Prompt, StreamChunk
from ariadne_integrations.runtime.mixed_lora import fast_mixed_batch

logger = logging.getLogger(__name__)

PEFT_BASE = "__base__"
_SHARED_LOCK = threading.Lock()
_SHARED: dict[int, "_SharedModel"] = {}


def _peft_name(path: Path) -> str:
    return "a" + hashlib.sha1(str(path).encode()).hexdigest()[:16]


def check_adapter_folder(path: str | os.PathLike[str]) -> Path:
    """A folder with adapter_config.json and adapter weights, or AdapterLoadError saying what is wrong."""
    p = Path(path).expanduser()
    if not p.is_dir():
        raise AdapterLoadError(f"adapter folder {p} does not exist; train one with `ariadne train` or give a PEFT adapter folder")
    cfg = p / "adapter_config.json"
    if not cfg.is_file():
        raise AdapterLoadError(f"{p} is not a PEFT adapter folder (no adapter_config.json)")
    try:
        json.loads(cfg.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise AdapterLoadError(f"{cfg} is not valid JSON ({exc}); re-save the adapter") from None
    if not any((p / f).is_file() for f in ("adapter_model.safetensors", "adapter_model.bin")):
        raise AdapterLoadError(f"{p} has no adapter_model.safetensors / adapter_model.bin")
    return p.resolve()


def _check_shapes(base_model: Any, folder: Path) -> None:
    """Compare the adapter's LoRA shapes with the backbone's layers before touching the model."""
    f = folder / "adapter_model.safetensors"
    if not f.is_file():
        return
    from safetensors import safe_open

    modules = dict(base_model.named_modules())
    try:
        with safe_open(str(f), framework="pt") as fh:
            keys = list(fh.keys())
            shapes = {k: tuple(fh.get_slice(k).get_shape()) for k in keys}
    except Exception as exc:  # corrupt or truncated file
        raise AdapterLoadError(f"{f} cannot be read ({exc}); re-save the adapter") from None
    for key, shape in shapes.items():
        for part in (".lora_A.", ".lora_B."):
            if part not in key:
                continue
            mod_path = key.split(part)[0]
            for prefix in ("base_model.model.",):
                if mod_path.startswith(prefix):
                    mod_path = mod_path[len(prefix):]
            mod = modules.get(mod_path)
            if mod is None:
                raise AdapterLoadError(
                    f"adapter {folder} targets layer {mod_path!r}, which this backbone does not have: "
                    "it was trained for a different base model"
                )
            in_f = getattr(mod, "in_features", None)
            out_f = getattr(mod, "out_features", None)
            if part == ".lora_A." and in_f is not None and len(shape) == 2 and shape[1] != in_f:
                raise AdapterLoadError(
                    f"adapter {folder}: {mod_path} expects input size {shape[1]} but the backbone has {in_f}: "
                    "it was trained for a different base model"
                )
            if part == ".lora_B." and out_f is not None and len(shape) == 2 and shape[0] != out_f:
                raise AdapterLoadError(
                    f"adapter {folder}: {mod_path} has output size {shape[0]} but the backbone has {out_f}: "
                    "it was trained for a different base model"
                )


class _SharedModel:
    """One backbone wrapped once in a PeftModel; loads adapters by folder, keeps at most N (LRU)."""

    def __init__(self, backbone: Backbone) -> None:
        self.backbone = backbone
        self.lock = threading.RLock()
        self.peft: Any = None  # PeftModel once the first adapter is loaded
        self.loaded: OrderedDict[str, Path] = OrderedDict()  # peft name -> folder, LRU order

    @property
    def model(self) -> Any:
        return self.peft if self.peft is not None else self.backbone.model

    def ensure(self, folders: Sequence[Path], max_loaded: int) -> list[str]:
        """Load these adapter folders (if not yet), evict least recently used beyond the bound."""
        names = []
        with self.lock:
            for folder in folders:
                name = _peft_name(folder)
                if name in self.loaded:
                    self.loaded.move_to_end(name)
                else:
                    self._load(folder, name)
                names.append(name)
            keep = set(names)
            while len(self.loaded) > max(max_loaded, len(keep)):
                victim = next(n for n in self.loaded if n not in keep)
                self.unload(victim)
        return names

    def _load(self, folder: Path, name: str) -> None:
        import warnings

        from peft import PeftModel

        _check_shapes(self.backbone.model, folder)
        logger.info("loading adapter %s as %s", folder, name)
        try:
            if self.peft is None:
                # peft's PeftModel.__init__ reads model.is_gradient_checkpointing, which transformers 5 deprecates
                # with a FutureWarning; silence exactly that warning, only around this call.
                with warnings.catch_warnings():
                    warnings.filterwarnings("ignore", message=r"`is_gradient_checkpointing` is deprecated", category=FutureWarning)
                    self.peft = PeftModel.from_pretrained(self.backbone.model, str(folder), adapter_name=name)
                self.peft.eval()
            else:
                self.peft.load_adapter(str(folder), adapter_name=name)
                if self.peft.active_adapter not in self.peft.peft_config:
                    # the previously active adapter was unloaded; peft needs *a* valid one to exist.
                    # Rows still choose theirs via adapter_names, so this global never selects outputs.
                    self.peft.set_adapter(name)
        except Exception as exc:
            if self.peft is not None and name in getattr(self.peft, "peft_config", {}):
                try:
                    self.peft.delete_adapter(name)
                except Exception:  # pragma: no cover - best effort cleanup
                    logger.exception("cleanup of half-loaded adapter %s failed", name)
            raise AdapterLoadError(f"could not load adapter {folder}: {exc.__class__.__name__}: {exc}") from exc
        self.loaded[name] = folder

    def unload(self, name: str) -> None:
        with self.lock:
            if name in self.loaded:
                logger.info("unloading adapter %s", self.loaded[name])
                self.peft.delete_adapter(name)
                del self.loaded[name]


def _shared_for(backbone: Backbone) -> _SharedModel:
    with _SHARED_LOCK:
        sm = _SHARED.get(id(backbone.model))
        if sm is None:
            sm = _SHARED[id(backbone.model)] = _SharedModel(backbone)
        return sm


class AdapterRuntime:
    """A GenerationBackend over a local backbone with named PEFT adapters.

    Adapters are registered by name and loaded on first use; at most ``max_loaded_adapters`` stay
    in memory (least recently used are unloaded; a batch may need more, then all it needs stay).
    Safe to call from several threads: model calls are serialised and the adapter is chosen per
    row, so concurrent calls never leak adapters into each other. ``fast_mixed_lora=False`` uses
    peft's own per-adapter loop for mixed batches instead of ``mixed_lora.fast_mixed_batch``.
    """

    def __init__(
        self,
        backbone: str | os.PathLike[str] | Backbone | None = None,
        adapters: Mapping[str, str | os.PathLike[str]] | None = None,
        *,
        max_loaded_adapters: int = 8,
        fast_mixed_lora: bool = True,
    ) -> None:
        if not isinstance(max_loaded_adapters, int) or max_loaded_adapters < 1:
            raise InvalidInputError(f"max_loaded_adapters must be a positive int, got {max_loaded_adapters!r}")
        self._backbone_spec = backbone
        self._backbone: Backbone | None = backbone if isinstance(backbone, Backbone) else None
        self.max_loaded_adapters = max_loaded_adapters
        self.fast_mixed_lora = fast_mixed_lora
        self._registry: dict[str, Path] = {}
        self._reg_lock = threading.Lock()
        for name, path in (adapters or {}).items():
            self.register_adapter(name, path)

    # ------------------------------------------------------------------ model + registry
    @property
    def backbone(self) -> Backbone:
        if self._backbone is None:
            self._backbone = load_backbone(self._backbone_spec)  # type: ignore[arg-type]
        return self._backbone

    @property
    def model_name(self) -> str:
        if self._backbone is not None:
            return self._backbone.name
        if self._backbone_spec is None:
            from ariadne_integrations.runtime.backbone import DEFAULT_BACKBONE_NAME

            return DEFAULT_BACKBONE_NAME
        return str(self._backbone_spec)

    def _shared(self) -> _SharedModel:
        return _shared_for(self.backbone)

    def register_adapter(self, name: str, path: str | os.PathLike[str]) -> None:
        """Make an adapter folder available under ``name`` (weights load on first use)."""
        if not isinstance(name, str) or not name.strip() or name == PEFT_BASE:
            raise InvalidInputError(f"adapter name must be a non-empty string other than {PEFT_BASE!r}, got {name!r}")
        folder = check_adapter_folder(path)
        with self._reg_lock:
            self._registry[name] = folder

    def unregister_adapter(self, name: str) -> None:
        self.unload_adapter(name)
        with self._reg_lock:
            self._registry.pop(name, None)

    def unload_adapter(self, name: str) -> None:
        """Free an adapter's weights; it stays registered and reloads on next use."""
        folder = self._folder(name)
        if self._backbone is not None:
            self._shared().unload(_peft_name(folder))

    def has_adapter(self, name: str) -> bool:
        return name in self._registry

    @property
    def registered_adapters(self) -> list[str]:
        return list(self._registry)

    @property
    def loaded_adapters(self) -> list[str]:
        if self._backbone is None:
            return []
        loaded = set(self._shared().loaded)
        return [n for n, f in self._registry.items() if _peft_name(f) in loaded]

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
                logger.warning("prompt %d has %d tokens; keeping the last %d (context window %d minus max_new_tokens)",
                               i, len(enc), limit, self.backbone.context_window)
                enc = enc[-limit:]
            ids.append(enc)
        batch = tok.pad({"input_ids": ids}, padding=True, return_tensors="pt")
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

    def _gen_kwargs(self, config: GenerationConfig) -> dict[str, Any]:
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
        if config.stop:
            kw["stop_strings"] = list(config.stop)
            kw["tokenizer"] = self.backbone.tokenizer
        return kw

    def _adapter_names(self, adapters: Sequence[str | None]) -> list[str] | None:
        """peft's per-row adapter names (loading what is needed); None when no row uses an adapter."""
        used = [a for a in adapters if a is not None]
        if not used:
            return None
        unique = list(dict.fromkeys(self._folder(a) for a in used))
        peft_names = dict(zip(unique, self._shared().ensure(unique, self.max_loaded_adapters)))
        return [peft_names[self._folder(a)] if a is not None else PEFT_BASE for a in adapters]

    # ------------------------------------------------------------------ generation
    def _call_generate(self, shared: _SharedModel, batch: Any, names: list[str] | None, n: int, kw: dict[str, Any]) -> Any:
        """One ``generate``; rows without an adapter use peft's "__base__" (never global adapter state)."""
        if shared.peft is None or not shared.loaded:
            # No adapter in memory: the (possibly LoRA-injected, now empty) base model answers alone.
            return shared.backbone.model.generate(**batch, **kw)
        if names is None:
            # No row uses an adapter: switch them all off for this call (cheaper than per-row
            # "__base__" masks). This is global state, but every model call holds shared.lock.
            with shared.peft.disable_adapter():
                return shared.peft.generate(**batch, **kw)
        if not self.fast_mixed_lora:
            return shared.peft.generate(**batch, adapter_names=names, **kw)
        with fast_mixed_batch(shared.peft, names):  # per-row LoRA weights gathered once per call
            return shared.peft.generate(**batch, adapter_names=names, **kw)

    def generate(
        self, prompts: Sequence[Prompt], adapters: Sequence[str | None] | None = None, config: GenerationConfig | None = None
    ) -> list[GenerationResult]:
        """Generate for every prompt with its own adapter (None = bare backbone) in ONE batched call."""
        import torch

        config = config or GenerationConfig()
        adapters = [None] * len(prompts) if adapters is None else list(adapters)
        self._validate(prompts, adapters)
        for a in adapters:
            if a is not None:
                self._folder(a)  # unknown adapter -> error before any work
        shared = self._shared()
        with shared.lock:
            names = self._adapter_names(adapters)
            batch, prompt_lens = self._encode(prompts, config)
            kw = self._gen_kwargs(config)
            if config.seed is not None:
                torch.manual_seed(config.seed)
            with torch.inference_mode():
                out = self._call_generate(shared, batch, names, len(prompts), kw)
        new = out[:, batch["input_ids"].shape[1]:]
        results = []
        for i in range(len(prompts)):
            results.append(self._finish(new[i].tolist(), prompt_lens[i], adapters[i], config))
        return results

    def _finish(self, token_ids: list[int], prompt_len: int, adapter: str | None, config: GenerationConfig) -> GenerationResult:
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
        shared = self._shared()
        holdback = max((len(s) for s in config.stop), default=1) - 1
        streamer = TextIteratorStreamer(tok, skip_prompt=True, skip_special_tokens=True, timeout=600)
        result: dict[str, Any] = {}

        def run() -> None:
            try:
                with shared.lock:
                    names = self._adapter_names([adapter])
                    batch, lens = self._encode([prompt], config)
                    result["prompt_len"] = lens[0]
                    kw = self._gen_kwargs(config)
                    if config.seed is not None:
                        torch.manual_seed(config.seed)
                    with torch.inference_mode():
                        out = self._call_generate(shared, batch, names, 1, {**kw, "streamer": streamer})
                    result["tokens"] = out[0, batch["input_ids"].shape[1]:].tolist()
            except BaseException as exc:  # surfaced to the consumer below
                result["error"] = exc
                streamer.end()

        worker = threading.Thread(target=run, name="ariadne-stream", daemon=True)
        worker.start()
        emitted = ""
        buffer = ""
        stopped = None
        for piece in streamer:
            if stopped is not None:
                continue  # drain: the model stops on its own (stop_strings criteria)
            buffer += piece
            full = emitted + buffer
            cut, stop_seq = cut_at_stop(full, config.stop)
            if stop_seq is not None:
                stopped = stop_seq
                delta = cut[len(emitted):]
                if delta:
                    yield StreamChunk(text=delta, adapter=adapter)
                emitted = cut
                buffer = ""
                continue
            safe = len(buffer) - holdback if holdback > 0 else len(buffer)
            if safe > 0:
                yield StreamChunk(text=buffer[:safe], adapter=adapter)
                emitted += buffer[:safe]
                buffer = buffer[safe:]
        worker.join()
        if "error" in result:
            raise result["error"]
        if stopped is None and buffer:
            yield StreamChunk(text=buffer, adapter=adapter)
            emitted += buffer
        final = self._finish(result["tokens"], result["prompt_len"], adapter, config)
        yield StreamChunk(text="", final=True, adapter=adapter, prompt_tokens=final.prompt_tokens,
                          completion_tokens=final.completion_tokens, finish_reason=final.finish_reason)


def cut_at_stop(text: str, stops: Sequence[str]) -> tuple[str, str | None]:
    """Cut ``text`` at the earliest stop string; returns (text, the stop string found or None)."""
    best: tuple[int, str] | None = None
    for s in stops:
        i = text.find(s)
        if i != -1 and (best is None or i < best[0]):
            best = (i, s)
    if best is None:
        return text, None
    return text[: best[0]], best[1]


def invalidate_adapter_folder(path: str | os.PathLike[str]) -> None:
    """Unload whatever was loaded from ``path`` in any runtime (its files are about to change)."""
    name = _peft_name(Path(path).expanduser().resolve())
    with _SHARED_LOCK:
        shared = list(_SHARED.values())
    for sm in shared:
        sm.unload(name)
