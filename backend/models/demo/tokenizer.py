"""A tiny byte-level BPE tokenizer that behaves like InternLM2's for xtuner.

What xtuner relies on (xtuner/dataset/utils.py ``encode_fn``, the
``internlm2_chat`` template and the chat/eval code):
  * ``bos_token_id`` / ``eos_token_id`` are ``<s>`` / ``</s>``;
  * ``encode(text)`` prepends ``<s>`` (chat code relies on it for the first
    chunk), ``encode(text, add_special_tokens=False)`` does not;
  * ``<|im_start|>`` / ``<|im_end|>`` are single tokens: ``<|im_end|>`` is the
    template's SUFFIX and stop word, matched as one id.
Byte-level means any user text (English, Chinese, emoji) encodes, just into
more tokens than a real vocabulary would need.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

# Same ids as InternLM2's tokenizer for the first three (unk=0, bos=1, eos=2),
# so the copied InternLM2 config's defaults stay right.
SPECIAL_TOKENS = ["<unk>", "<s>", "</s>", "<|im_start|>", "<|im_end|>"]
VOCAB_SIZE = 2048


def build_tokenizer(folder: Path, corpus: Iterable[str]):
    """Train the BPE on ``corpus``, save it to ``folder`` and return it."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=SPECIAL_TOKENS,
        # The full byte alphabet guarantees that nothing is ever <unk>.
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(list(corpus), trainer=trainer)
    bos = tok.token_to_id("<s>")
    tok.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=False),
        # InternLM2 adds BOS (add_bos_token=True) but no EOS.
        processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B",
                                      special_tokens=[("<s>", bos)]),
    ])

    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>", eos_token="</s>", unk_token="<unk>",
        # InternLM2-chat pads with </s>; xtuner's collate pads ids itself.
        pad_token="</s>",
        additional_special_tokens=["<|im_start|>", "<|im_end|>"],
        padding_side="right",
        clean_up_tokenization_spaces=False,
        model_max_length=4096,
    )
    fast.save_pretrained(str(folder))
    return fast


def check_tokenizer(tokenizer) -> None:
    """Fail loudly if the tokenizer breaks an assumption xtuner makes."""
    for token in SPECIAL_TOKENS:
        ids = tokenizer.encode(token, add_special_tokens=False)
        if len(ids) != 1:
            raise RuntimeError(f"demo tokenizer splits {token!r} into {ids}")
    sample = "Describe this photo. 请描述一下这张照片 🙂"
    ids = tokenizer.encode(sample, add_special_tokens=False)
    if tokenizer.decode(ids) != sample or tokenizer.unk_token_id in ids:
        raise RuntimeError("demo tokenizer does not round-trip text")
    if tokenizer.encode("hi")[0] != tokenizer.bos_token_id:
        raise RuntimeError("demo tokenizer does not prepend <s>")
