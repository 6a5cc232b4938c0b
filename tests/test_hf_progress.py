"""transformers' per-tensor "Loading weights" bar stays off during our model loads, and the user's setting
is restored afterwards."""
from __future__ import annotations

import subprocess
import sys
import threading

from transformers.utils import logging as hf_logging

from ariadne_integrations.hf_progress import quiet_weight_loading


def test_bars_are_off_inside_and_restored_after_even_on_error():
    assert hf_logging.is_progress_bar_enabled()
    with quiet_weight_loading():
        assert not hf_logging.is_progress_bar_enabled()
        with quiet_weight_loading():  # nested
            assert not hf_logging.is_progress_bar_enabled()
        assert not hf_logging.is_progress_bar_enabled()
    assert hf_logging.is_progress_bar_enabled()
    try:
        with quiet_weight_loading():
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert hf_logging.is_progress_bar_enabled()


def test_a_user_who_disabled_bars_keeps_them_disabled():
    hf_logging.disable_progress_bar()
    try:
        with quiet_weight_loading():
            pass
        assert not hf_logging.is_progress_bar_enabled()
    finally:
        hf_logging.enable_progress_bar()


def test_concurrent_loads_restore_once_all_are_done():
    inside, release = threading.Barrier(3), threading.Event()

    def load():
        with quiet_weight_loading():
            inside.wait()
            release.wait()

    threads = [threading.Thread(target=load) for _ in range(2)]
    for t in threads:
        t.start()
    inside.wait()
    assert not hf_logging.is_progress_bar_enabled()
    release.set()
    for t in threads:
        t.join()
    assert hf_logging.is_progress_bar_enabled()


def test_loading_the_real_embedder_and_backbone_draws_no_weight_bar():
    code = ("from ariadne_integrations.routing.embedders import SentenceTransformerEmbedder\n"
            "from ariadne_integrations.runtime.backbone import load_backbone\n"
            "SentenceTransformerEmbedder(backend='torch').embed(['hello'])\n"
            "print(load_backbone(None).name)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                       env={**__import__("os").environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"})
    assert r.returncode == 0, r.stderr[-2000:]
    assert "SmolLM2" in r.stdout, r.stdout
    assert "Loading weights" not in r.stderr, r.stderr[-2000:]
