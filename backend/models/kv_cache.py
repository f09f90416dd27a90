"""One row of a batch's KV cache (Compare's batched first turn, backend/models/chat.py)."""
from __future__ import annotations


def cache_row(past, row: int):
    """Row ``row`` of a batch's KV cache, in the form it came in (the legacy
    tuple of (key, value) per layer, or a transformers Cache)."""
    legacy = past.to_legacy_cache() if hasattr(past, "to_legacy_cache") else past
    rows = tuple(tuple(tensor[row:row + 1] for tensor in layer) for layer in legacy)
    if legacy is past:
        return rows
    from transformers.cache_utils import DynamicCache

    return DynamicCache.from_legacy_cache(rows)
