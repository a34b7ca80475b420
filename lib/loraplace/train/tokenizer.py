"""A character-level tokenizer for the synthetic world, built with `tokenizers`.

Vocabulary: four special tokens (ids below, equal to the organisms' config ids), then newline
and printable ASCII (32..126) -- 100 tokens in all. One character is one token, decoding fuses
tokens back without separators, so `decode(encode(s)) == s` for every ASCII string.
"""
from __future__ import annotations

from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
PAD_ID, BOS_ID, EOS_ID, UNK_ID = 0, 1, 2, 3
CHARS = "\n" + "".join(chr(c) for c in range(32, 127))
VOCAB_SIZE = 4 + len(CHARS)  # 100


def build_tokenizer() -> PreTrainedTokenizerFast:
    vocab = {PAD: PAD_ID, BOS: BOS_ID, EOS: EOS_ID, UNK: UNK_ID}
    vocab.update({ch: 4 + i for i, ch in enumerate(CHARS)})
    # BPE without merges on a pre-split of single characters == a character vocabulary.
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token=UNK))
    tok.pre_tokenizer = pre_tokenizers.Split(pattern="", behavior="isolated")
    tok.decoder = decoders.Fuse()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token=PAD, bos_token=BOS, eos_token=EOS,
                                   unk_token=UNK, clean_up_tokenization_spaces=False)
    fast.padding_side = "right"
    return fast


def special_ids(tokenizer) -> dict[str, int]:
    return {"pad_token_id": tokenizer.pad_token_id, "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": tokenizer.eos_token_id}
