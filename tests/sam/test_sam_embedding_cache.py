"""Embedding cache: LRU in memory, disk round trip, keys by model and content."""

import torch

from samlabel.sam.embedding_cache import EmbeddingCache, cache_key
from samlabel.sam.embedding import ImageEmbedding


def _emb(value: float, model_id: str = "m:1") -> ImageEmbedding:
    return ImageEmbedding(torch.full((1, 4, 8, 8), value), (30, 40), (768, 1024), model_id)


def test_keys_differ_by_model_and_content_and_are_file_safe():
    a = cache_key("vit_b:abc/../x", "h1")
    assert "/" not in a and a != cache_key("vit_b:abd", "h1") and a != cache_key("vit_b:abc/../x", "h2")


def test_memory_lru_evicts_least_recently_used():
    cache = EmbeddingCache(None, capacity=2)
    cache.put("a", _emb(1))
    cache.put("b", _emb(2))
    assert cache.get("a") is not None  # a becomes most recent
    cache.put("c", _emb(3))
    assert cache.memory_keys() == ["a", "c"]
    assert cache.get("b") is None


def test_disk_round_trip_survives_a_new_cache(tmp_path):
    cache = EmbeddingCache(tmp_path, capacity=1)
    cache.put("k1", _emb(1.5))
    fresh = EmbeddingCache(tmp_path, capacity=1)
    assert fresh.contains("k1")
    got = fresh.get("k1", model_id="m:1")
    assert got is not None and float(got.features[0, 0, 0, 0]) == 1.5
    assert got.original_size == (30, 40)


def test_foreign_or_broken_disk_files_are_ignored(tmp_path):
    cache = EmbeddingCache(tmp_path)
    cache.put("k", _emb(1, model_id="other:1"))
    fresh = EmbeddingCache(tmp_path)
    assert fresh.get("k", model_id="m:1") is None  # made by another model
    (tmp_path / "bad.safetensors").write_bytes(b"garbage")
    assert fresh.get("bad") is None
    assert not (tmp_path / "bad.safetensors").exists()
