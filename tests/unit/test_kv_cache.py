"""A row of a batch's KV cache, in either form a model hands back."""
import torch
from transformers.cache_utils import DynamicCache

from backend.models.kv_cache import cache_row


def batch_cache(layers=2, rows=3):
    return tuple((torch.randn(rows, 4, 5, 8), torch.randn(rows, 4, 5, 8)) for _ in range(layers))


def test_a_legacy_tuple_gives_a_tuple_of_that_row():
    past = batch_cache()
    row = cache_row(past, 1)
    assert isinstance(row, tuple) and len(row) == 2
    for (key, value), (k_all, v_all) in zip(row, past):
        assert key.shape == (1, 4, 5, 8)
        assert torch.equal(key[0], k_all[1]) and torch.equal(value[0], v_all[1])


def test_a_cache_object_gives_a_cache_of_that_row():
    past = batch_cache()
    row = cache_row(DynamicCache.from_legacy_cache(past), 2)
    assert isinstance(row, DynamicCache) and row.get_seq_length() == 5
    for (key, value), (k_all, v_all) in zip(row.to_legacy_cache(), past):
        assert torch.equal(key[0], k_all[2]) and torch.equal(value[0], v_all[2])
