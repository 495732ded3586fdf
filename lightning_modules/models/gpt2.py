"""A decoder-only transformer from `transformers` (GPT-2), built from a config, no download.

For sequence tasks whose answer is the next token after the input (modular addition: the
token after `a + b =`): the network returns the logits at the last position, over the
whole vocabulary, so the Classifier's cross entropy and accuracy read them as classes.
Module and state names are transformers' own (`transformer.wte`, `transformer.h.N.attn`,
`transformer.h.N.mlp`, `transformer.ln_f`, `lm_head`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transformers import GPT2Config, GPT2LMHeadModel

from lightning_modules.models.sizes import ModelConfigError, attention_width


class NextTokenGPT2(GPT2LMHeadModel):
    """GPT2LMHeadModel whose forward takes token ids (N, T) and returns the logits of the
    token after them (N, vocab)."""

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return super().forward(input_ids=input_ids, use_cache=False).logits[:, -1]


def gpt2(
    input_shape: Sequence[int],
    num_outputs: int,
    embed_dim: int = 128,
    depth: int = 2,
    num_heads: int = 4,
    mlp_ratio: float = 4.0,
    dropout: float = 0.0,
    width: float = 1.0,
) -> NextTokenGPT2:
    """GPT-2 over sequences of `input_shape[0]` tokens from a vocabulary of `num_outputs`.

    `num_heads` must divide `embed_dim`; `width` scales `embed_dim` (smoke runs), kept a
    multiple of the heads. The output layer is not tied to the token embedding, so
    `unit/lm_head` and `unit/transformer.wte` move one each (tied, they are one tensor).
    """
    if len(input_shape) != 1:
        raise ModelConfigError(
            f"model=gpt2 needs token sequences (length,); the data gives {tuple(input_shape)}"
        )
    scaled = attention_width(embed_dim, num_heads, width)
    config = GPT2Config(
        vocab_size=num_outputs,
        n_positions=int(input_shape[0]),
        n_embd=scaled,
        n_layer=depth,
        n_head=num_heads,
        n_inner=round(mlp_ratio * scaled),
        resid_pdrop=dropout,
        embd_pdrop=dropout,
        attn_pdrop=dropout,
        tie_word_embeddings=False,
        bos_token_id=None,
        eos_token_id=None,
    )
    return NextTokenGPT2(config)
