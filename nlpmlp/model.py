"""A pre-LayerNorm Transformer encoder with an LM head tied to its embeddings.

Token and learned position embeddings feed ``n_layer`` blocks of

    x = x + Attention(LayerNorm(x))
    x = x + FeedForward(LayerNorm(x))

then a final LayerNorm and a linear head whose weight is the token embedding
matrix. The same stack serves masked LM (bidirectional attention) and causal
LM (a causal mask), chosen by ``ModelConfig.causal``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from nlpmlp.attention import attention
from nlpmlp.block import transformer_block
from nlpmlp.data import IGNORE_INDEX
from nlpmlp.errors import ConfigError
from nlpmlp.ffn import FEED_FORWARDS, FFN_ACTIVATIONS, FeedForward, make_feed_forward

__all__ = ["Encoder", "ModelConfig", "ModelOutput"]

_INIT_STD = 0.02  # standard deviation of every initial weight matrix


@dataclass
class ModelConfig:
    """Shape and options of the encoder; stored in a run's ``config.json``."""

    vocab_size: int
    block_size: int = 128  # maximum input length, in tokens
    n_layer: int = 4  # number of Transformer blocks
    n_head: int = 4  # attention heads per block; must divide n_embd
    n_embd: int = 128  # width of the residual stream
    ffn_mult: float = 4.0  # feed-forward hidden width, in multiples of n_embd
    activation: str = "gelu"  # feed-forward activation
    ffn: str = "foundations"  # feed-forward kind, a key of FEED_FORWARDS
    dropout: float = 0.1  # dropout probability after embeddings and sublayers
    bias: bool = True  # biases in the linear layers
    causal: bool = False  # causal attention mask (causal LM) or none (masked LM)

    def validate(self) -> None:
        """Raise ``ConfigError`` naming the first invalid setting."""
        positive = ("vocab_size", "block_size", "n_layer", "n_head", "n_embd")
        for name in positive:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f"{name} must be an integer, got {value!r}")
            if value < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.n_embd % self.n_head:
            raise ConfigError(
                f"n_embd ({self.n_embd}) must be a multiple of n_head ({self.n_head})"
            )
        if self.ffn_mult < 0:
            raise ConfigError(f"ffn_mult must be >= 0, got {self.ffn_mult}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.activation not in FFN_ACTIVATIONS:
            raise ConfigError(
                f"activation must be one of {FFN_ACTIVATIONS}, got {self.activation!r}"
            )
        if self.ffn not in FEED_FORWARDS:
            raise ConfigError(
                f"ffn must be one of {sorted(FEED_FORWARDS)}, got {self.ffn!r}"
            )

    def to_dict(self) -> dict:
        """Return the settings as a JSON-ready dictionary."""
        return asdict(self)


class ModelOutput(NamedTuple):
    """Logits, and the mean cross-entropy when targets were given.

    With targets, ``logits`` has shape (n_targets, vocab) and contains only the
    positions whose target is not ``IGNORE_INDEX``, in row-major order. Without
    targets, it has shape (batch, time, vocab) and ``loss`` is None.
    """

    logits: torch.Tensor
    loss: torch.Tensor | None


class SelfAttention(nn.Module):
    """Multi-head self-attention with one fused query-key-value projection.

    While gradients are recorded and no padding mask is given (every
    training step), attention runs through ``nlpmlp.attention``, whose
    backward pass is written out from the softmax derivative, as the
    feed-forward sublayer's is. Otherwise it runs through torch's
    ``scaled_dot_product_attention``: a forward pass alone needs no saved
    probabilities, and torch's fused kernel took 0.43 ms against 0.62 ms
    for one char-baby layer in a single timing.

    There is no dropout on the attention probabilities: with it, torch's CPU
    attention leaves its fused kernel for a slower path that spends much of a
    step drawing the dropout mask. The block's dropout on the sublayer output
    still regularizes.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.n_head = config.n_head
        self.qkv = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor | None, is_causal: bool
    ) -> torch.Tensor:
        if mask is None and torch.is_grad_enabled():
            return self.proj(attention(self.qkv(x), self.n_head, is_causal))
        batch, time, n_embd = x.shape
        head_dim = n_embd // self.n_head
        qkv = self.qkv(x).view(batch, time, 3, self.n_head, head_dim)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # each (batch, heads, time, head_dim)
        y = F.scaled_dot_product_attention(
            q,
            k,
            v,
            attn_mask=mask,
            is_causal=is_causal,
        )
        y = y.transpose(1, 2).reshape(batch, time, n_embd)
        return self.proj(y)


class Block(nn.Module):
    """Pre-LayerNorm block: attention then feed-forward, each with a residual."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.attn = SelfAttention(config)
        self.ffn = make_feed_forward(
            config.ffn, config.n_embd, config.ffn_mult, config.activation, config.bias
        )
        self.ln2 = nn.LayerNorm(config.n_embd, bias=config.bias) if self.ffn else None
        self.drop = nn.Dropout(config.dropout)

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor | None, is_causal: bool
    ) -> torch.Tensor:
        if mask is None and self._runs_as_one_node():
            return transformer_block(x, self, is_causal)
        x = x + self.drop(self.attn(self.ln1(x), mask, is_causal))
        if self.ffn is not None:
            x = x + self.drop(self.ffn(self.ln2(x)))
        return x

    def _runs_as_one_node(self) -> bool:
        # nlpmlp.block covers a training step of the foundations feed-forward
        # without dropout. Hooks on the submodules, or on every module, need
        # the module path, which calls them.
        submodules = (self.ln1, self.attn, self.attn.qkv, self.attn.proj, self.ln2)
        return (
            torch.is_grad_enabled()
            and isinstance(self.ffn, FeedForward)
            and (self.drop.p == 0 or not self.training)
            and not _global_module_hooks()
            and not any(_has_hooks(m) for m in (*submodules, self.ffn))
        )


def _has_hooks(module: nn.Module) -> bool:
    return bool(
        module._forward_hooks
        or module._forward_pre_hooks
        or module._backward_hooks
        or module._backward_pre_hooks
    )


def _global_module_hooks() -> bool:
    hooks = torch.nn.modules.module
    return bool(
        hooks._global_forward_hooks
        or hooks._global_forward_pre_hooks
        or hooks._global_backward_hooks
        or hooks._global_backward_pre_hooks
    )


class Encoder(nn.Module):
    """Transformer encoder language model (masked or causal).

    Parameters
    ----------
    config : ModelConfig
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        config.validate()
        self.config = config
        self.tok_emb = nn.Embedding(config.vocab_size, config.n_embd)
        self.pos_emb = nn.Embedding(config.block_size, config.n_embd)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.tie_weights()
        self.init_weights()

    def tie_weights(self) -> None:
        """Make the LM head use the token embedding matrix as its weight."""
        self.lm_head.weight = self.tok_emb.weight

    def init_weights(self) -> None:
        """Draw weights from N(0, 0.02²), residual outputs scaled by 1/sqrt(2 n_layer).

        The scaling keeps the variance of the residual stream from growing
        with depth, since each block adds two sublayer outputs to it.
        """
        output_std = _INIT_STD / math.sqrt(2 * self.config.n_layer)
        nn.init.normal_(self.tok_emb.weight, std=_INIT_STD)
        nn.init.normal_(self.pos_emb.weight, std=_INIT_STD)
        for block in self.blocks:
            nn.init.normal_(block.attn.qkv.weight, std=_INIT_STD)
            nn.init.normal_(block.attn.proj.weight, std=output_std)
            for layer in (block.attn.qkv, block.attn.proj):
                if layer.bias is not None:
                    nn.init.zeros_(layer.bias)
            if block.ffn is not None:
                block.ffn.init_weights(_INIT_STD, output_std)

    def forward(
        self,
        ids: torch.Tensor,
        targets: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
    ) -> ModelOutput:
        """Return logits, and the mean cross-entropy over the targets if given.

        Parameters
        ----------
        ids : LongTensor of shape (batch, time)
            Token ids; ``time`` at most ``block_size``.
        targets : LongTensor of shape (batch, time), optional
            Target ids, ``IGNORE_INDEX`` where there is no loss term. Only the
            positions with a target go through the LM head.
        attention_mask : BoolTensor of shape (batch, time), optional
            False at padding positions, which no token attends to.
        """
        hidden = self.hidden_states(ids, attention_mask)
        if targets is None:
            return ModelOutput(self.lm_head(hidden), None)
        if self.config.causal and attention_mask is None:
            logits = self.lm_head(hidden).flatten(0, 1)  # (batch * time, vocab)
            return ModelOutput(logits, F.cross_entropy(logits, targets.flatten()))
        selected = targets != IGNORE_INDEX
        logits = self.lm_head(hidden[selected])  # (n_targets, vocab)
        return ModelOutput(logits, F.cross_entropy(logits, targets[selected]))

    def hidden_states(
        self, ids: torch.Tensor, attention_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Return the final hidden states, shape (batch, time, n_embd)."""
        time = ids.shape[1]
        if time > self.config.block_size:
            raise ValueError(
                f"ids has {time} positions, more than block_size "
                f"{self.config.block_size}"
            )
        positions = torch.arange(time, device=ids.device)
        x = self.drop(self.tok_emb(ids) + self.pos_emb(positions))
        mask, is_causal = self._attention_mask(attention_mask, time)
        for block in self.blocks:
            x = block(x, mask, is_causal)
        return self.ln_f(x)

    def _attention_mask(
        self, attention_mask: torch.Tensor | None, time: int
    ) -> tuple[torch.Tensor | None, bool]:
        # sdpa reads a boolean mask as "may attend"; its shape broadcasts to
        # (batch, heads, query, key).
        if attention_mask is None:
            return None, self.config.causal
        mask = attention_mask[:, None, None, :]  # (batch, 1, 1, key)
        if self.config.causal:
            causal = torch.ones(time, time, dtype=torch.bool, device=mask.device)
            mask = mask & causal.tril()  # (batch, 1, query, key)
        return mask, False
