"""Embeddings kept in memory (small LRU) and on disk, keyed by image content and model.

The key is ``"<model_id>-<content hash>"`` (see :func:`cache_key`), so reopening an image
with the same model costs no encoder time, and another model never sees a foreign
embedding. Disk files are ``<dir>/<key>.safetensors`` written atomically by
``ImageEmbedding.save``; unreadable or foreign files are ignored (and removed). The class
is thread-safe: the embedding worker writes while the UI thread reads.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
from collections import OrderedDict
from pathlib import Path

from samlabel.sam.embedding import ImageEmbedding
from samlabel.sam.errors import EmbeddingError

log = logging.getLogger(__name__)


def cache_key(model_id: str, content_hash: str) -> str:
    """A file-name-safe key for an image (by content) and a model (by id)."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", model_id)[:40]
    digest = hashlib.blake2b(model_id.encode(), digest_size=4).hexdigest()
    return f"{safe}-{digest}-{content_hash}"


class EmbeddingCache:
    """LRU of ``capacity`` embeddings in memory, backed by ``directory`` (None: memory only)."""

    def __init__(self, directory: str | Path | None, capacity: int = 6, max_disk_files: int = 500) -> None:
        self.directory = Path(directory) if directory is not None else None
        self.capacity = max(1, int(capacity))
        self.max_disk_files = max_disk_files
        self._memory: "OrderedDict[str, ImageEmbedding]" = OrderedDict()
        self._lock = threading.Lock()

    def _file(self, key: str) -> Path | None:
        return None if self.directory is None else self.directory / f"{key}.safetensors"

    def contains(self, key: str) -> bool:
        with self._lock:
            if key in self._memory:
                return True
        f = self._file(key)
        return f is not None and f.is_file()

    def get_memory(self, key: str) -> ImageEmbedding | None:
        with self._lock:
            emb = self._memory.get(key)
            if emb is not None:
                self._memory.move_to_end(key)
            return emb

    def get(self, key: str, model_id: str | None = None) -> ImageEmbedding | None:
        """From memory, else from disk (then kept in memory); None when absent or unreadable."""
        emb = self.get_memory(key)
        if emb is not None:
            return emb
        f = self._file(key)
        if f is None or not f.is_file():
            return None
        try:
            emb = ImageEmbedding.load(f, expected_model_id=model_id)
        except EmbeddingError as exc:
            log.warning("ignoring cached embedding: %s", exc)
            try:
                f.unlink()
            except OSError:
                pass
            return None
        self._remember(key, emb)
        return emb

    def put(self, key: str, emb: ImageEmbedding, to_disk: bool = True) -> None:
        self._remember(key, emb)
        f = self._file(key)
        if to_disk and f is not None:
            try:
                f.parent.mkdir(parents=True, exist_ok=True)
                emb.save(f)
                self._trim_disk()
            except OSError as exc:  # a full disk must not break labelling
                log.warning("could not write embedding cache %s: %s", f, exc)

    def _remember(self, key: str, emb: ImageEmbedding) -> None:
        with self._lock:
            self._memory[key] = emb
            self._memory.move_to_end(key)
            while len(self._memory) > self.capacity:
                self._memory.popitem(last=False)

    def memory_keys(self) -> list[str]:
        with self._lock:
            return list(self._memory)

    def _trim_disk(self) -> None:
        if self.directory is None:
            return
        files = sorted(self.directory.glob("*.safetensors"), key=lambda p: p.stat().st_mtime)
        for old in files[: max(0, len(files) - self.max_disk_files)]:
            try:
                os.unlink(old)
            except OSError:
                pass
