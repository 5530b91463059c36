from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tagloop.errors import ModelInvalid, ModelNotFound, OutputNotWritable
from tagloop.store.cache import EmbeddingCache
from tagloop.store.packages import read_package, write_package
from tagloop.types import ImageInfo


def test_cache_round_trip_keys_by_sha_backbone_and_view(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path / "c.sqlite")
    info = ImageInfo(dhash=b"\x01" * 32, width=10, height=20, format="PNG")
    vec = np.arange(4, dtype=np.float32)
    cache.put([("s1", info, vec)], backbone_id="b1")
    assert cache.get_infos(["s1", "s2"]) == {"s1": info}
    np.testing.assert_array_equal(cache.get_embeddings(["s1"], backbone_id="b1")["s1"], vec)
    assert cache.get_embeddings(["s1"], backbone_id="b2") == {}
    assert cache.get_embeddings(["s1"], backbone_id="b1", view="flip") == {}
    cache.close()
    reopened = EmbeddingCache(tmp_path / "c.sqlite")
    assert reopened.get_infos(["s1"])["s1"].width == 10


def test_packages_are_written_whole_and_replaced(tmp_path: Path) -> None:
    out = tmp_path / "model"
    write_package(out, onnx_bytes=b"one", meta={"labels": ["a"]})
    write_package(out, onnx_bytes=b"two", meta={"labels": ["b"]})
    onnx_path, meta = read_package(out)
    assert onnx_path.read_bytes() == b"two" and meta["labels"] == ["b"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # no staging leftovers


def test_a_folder_with_other_files_is_never_overwritten(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(OutputNotWritable, match="not a tagloop model"):
        write_package(tmp_path, onnx_bytes=b"x", meta={})
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_reading_something_that_is_not_a_package(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFound, match="not a folder"):
        read_package(tmp_path / "missing")
    with pytest.raises(ModelNotFound, match="not a tagloop model"):
        read_package(tmp_path)
    (tmp_path / "model.onnx").write_bytes(b"x")
    (tmp_path / "model.json").write_text(json.dumps({"format_version": 99}))
    with pytest.raises(ModelInvalid):
        read_package(tmp_path)
