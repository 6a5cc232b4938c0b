"""One PeftModel per backbone, shared by every runtime over it, with at most N adapters in memory.

Why shared: wrapping one base model in two PeftModels would inject LoRA layers into it twice. So all
runtimes over the same backbone use one :class:`SharedModel`; adapters are named in peft by their
folder (:func:`~ariadne_integrations.runtime.adapter_folders.peft_name`), and the model's lock
serialises every model call (peft's active adapter and its on/off switch are global state).
"""
from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, Sequence

from ariadne_integrations.errors import AdapterLoadError
from ariadne_integrations.hf_progress import quiet_peft_wrap
from ariadne_integrations.runtime.adapter_folders import (
    check_adapter_base_model,
    check_adapter_folder,
    check_adapter_shapes,
    check_adapter_weights,
    peft_name,
)
from ariadne_integrations.runtime.backbone import Backbone

logger = logging.getLogger(__name__)

__all__ = ["SharedModel", "shared_model_for", "unload_everywhere"]


class SharedModel:
    """One backbone wrapped once in a PeftModel; loads adapters by folder and keeps at most N (LRU).

    ``lock`` must be held around every call into the model (generation included); ``ensure`` and
    ``unload`` take it themselves. ``peft`` is None until the first adapter loads; ``loaded`` maps
    peft names to folders, least recently used first.
    """

    def __init__(self, backbone: Backbone) -> None:
        self.backbone = backbone
        self.lock = threading.RLock()
        self.peft: Any = None
        self.loaded: OrderedDict[str, Path] = OrderedDict()
        self._decoder: Any = None
        self._decoder_reason: str | None = None
        # The fast loop's per-adapter LoRA layouts and per-adapter-set support answers; both change only when
        # an adapter loads or unloads, which clears them.
        self._products: dict[str, Any] = {}
        self._unsupported: dict[frozenset[str], str | None] = {}

    def fast_decoder(self) -> Any:
        """The backbone's :class:`~ariadne_integrations.runtime.fast_decode.FastDecoder` (built once, under
        ``lock``), or None when the backbone is not one it serves (``generate`` answers then)."""
        if self._decoder is None and self._decoder_reason is None:
            from ariadne_integrations.runtime.fast_decode import FastDecoder

            self._decoder_reason = FastDecoder.supports(self.backbone.model)
            if self._decoder_reason is None:
                self._decoder = FastDecoder(self.backbone.model)
            else:
                logger.info("backbone %s uses transformers' generate: %s", self.backbone.name, self._decoder_reason)
        return self._decoder

    def lora_plan(self, names: Sequence[str]) -> Any:
        """:func:`~ariadne_integrations.runtime.fast_decode.lora_plan` for these per-row peft names, reusing
        each adapter's layout and the support answer of this adapter set (call under ``lock``)."""
        from ariadne_integrations.runtime.fast_decode import adapter_products, lora_plan, lora_unsupported

        model = self.backbone.model
        key = frozenset(names)
        if key not in self._unsupported:
            self._unsupported[key] = lora_unsupported(model, names)

        def products(name: str) -> Any:
            if name not in self._products:
                self._products[name] = adapter_products(model, name)
            return self._products[name]

        return lora_plan(model, names, products=products, unsupported=self._unsupported[key])

    def _forget_layouts(self) -> None:
        self._products.clear()
        self._unsupported.clear()

    def ensure(self, folders: Sequence[Path], max_loaded: int,
               errors: dict[Path, AdapterLoadError] | None = None) -> list[str | None]:
        """Load these adapter folders (if not yet) and return their peft names, in order.

        Beyond ``max_loaded``, the least recently used adapters are unloaded, never one of ``folders``
        (a batch that needs more keeps all it needs). ``errors`` given: a folder that fails to load is
        recorded there (its name is None) and the others still load; else the first failure raises.
        """
        names: list[str | None] = []
        with self.lock:
            for folder in folders:
                name = peft_name(folder)
                if name in self.loaded:
                    self.loaded.move_to_end(name)
                else:
                    try:
                        self._load(folder, name)
                    except AdapterLoadError as exc:
                        if errors is None:
                            raise
                        errors[folder] = exc
                        names.append(None)
                        continue
                names.append(name)
            keep = {n for n in names if n is not None}
            while len(self.loaded) > max(max_loaded, len(keep)):
                victim = next(n for n in self.loaded if n not in keep)
                self.unload(victim)
        return names

    def _load(self, folder: Path, name: str) -> None:
        from peft import PeftModel

        check_adapter_folder(folder)  # it may have gone since registration (unmounted, deleted)
        check_adapter_base_model(folder, self.backbone.name)
        check_adapter_shapes(self.backbone.model, folder)
        check_adapter_weights(folder)
        logger.info("loading adapter %s as %s", folder, name)
        self._forget_layouts()
        try:
            if self.peft is None:
                with quiet_peft_wrap():
                    self.peft = PeftModel.from_pretrained(self.backbone.model, str(folder), adapter_name=name)
                self.peft.eval()
            else:
                with quiet_peft_wrap():
                    self.peft.load_adapter(str(folder), adapter_name=name)
                if self.peft.active_adapter not in self.peft.peft_config:
                    # the previously active adapter was unloaded; peft needs *a* valid one to exist.
                    # Rows still choose theirs via adapter_names, so this global never selects outputs.
                    self.peft.set_adapter(name)
        except Exception as exc:
            self._clean_up_failed(name)
            raise AdapterLoadError(f"could not load adapter {folder}: {exc.__class__.__name__}: {exc}") from exc
        self.loaded[name] = folder

    def _clean_up_failed(self, name: str) -> None:
        """Remove what a failed load injected, so the model is as before (peft injects the LoRA layers
        before it reads the weights, and on a first load the PeftModel that holds them is lost)."""
        try:
            if self.peft is not None:
                if name in getattr(self.peft, "peft_config", {}):
                    self.peft.delete_adapter(name)
                return
            from peft.tuners.tuners_utils import BaseTunerLayer

            model = self.backbone.model
            for mod_name, module in list(model.named_modules()):
                if isinstance(module, BaseTunerLayer) and mod_name:
                    parent_name, _, child = mod_name.rpartition(".")
                    parent = model.get_submodule(parent_name) if parent_name else model
                    setattr(parent, child, module.get_base_layer())
            model.__dict__.pop("peft_config", None)
        except Exception:  # pragma: no cover - best effort cleanup
            logger.exception("cleanup of half-loaded adapter %s failed", name)

    def unload(self, name: str) -> None:
        """Free one adapter's weights by peft name (nothing happens when it is not loaded)."""
        with self.lock:
            if name in self.loaded:
                logger.info("unloading adapter %s", self.loaded[name])
                self.peft.delete_adapter(name)
                del self.loaded[name]
                self._forget_layouts()


_POOL_LOCK = threading.Lock()
_POOL: dict[int, SharedModel] = {}  # id(backbone.model) -> its SharedModel (which keeps the model alive)


def shared_model_for(backbone: Backbone) -> SharedModel:
    """The SharedModel of this backbone's model, created on first use."""
    with _POOL_LOCK:
        sm = _POOL.get(id(backbone.model))
        if sm is None:
            sm = _POOL[id(backbone.model)] = SharedModel(backbone)
        return sm


def unload_everywhere(name: str) -> None:
    """Unload the adapter with this peft name from every shared model that has it loaded."""
    with _POOL_LOCK:
        shared = list(_POOL.values())
    for sm in shared:
        sm.unload(name)
