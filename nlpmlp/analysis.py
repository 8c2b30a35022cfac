r"""Feed-forward neurons and nearest tokens of a trained run.

Feed-forward layers as key-value memories (Geva et al., 2021, "Transformer
Feed-Forward Layers Are Key-Value Memories"). Written neuron by neuron, the
sublayer is

$$
\mathrm{FFN}(x) = \sum_{i=1}^{d_\text{ff}} \varphi(k_i^\top x + b_i)\, v_i + b_2,
\qquad k_i = W_1[i, :], \quad v_i = W_2[:, i],
$$

so row $i$ of $W_1$ is a key that the input is matched against and
column $i$ of $W_2$ is the value that the match writes into the residual
stream. ``neuron_reports`` shows both sides of neuron $i$:

- its key, through the training contexts where the hidden activation
  $h_i = \varphi(k_i^\top x + b_i)$ is largest;
- its value, through the tokens it promotes: the largest entries of the
  logits $E\, v_i$ under the LM head, whose weight is the token embedding
  matrix $E$ (tied).

For the gated variant the hidden activation is
$\varphi(W_1 x + b_1)_i\,(W_3 x + b_3)_i$, and the value is still
$W_2[:, i]$.

``nearest_tokens`` ranks the vocabulary by a distance of
``foundations.distances`` between rows of $E$.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from foundations.activations import get_activation
from foundations.distances import pairwise
from foundations.mlp.layer import affine
from nlpmlp.errors import ConfigError, DataError
from nlpmlp.ffn import FeedForward, ReferenceFeedForward
from nlpmlp.glu import GatedFeedForward
from nlpmlp.model import Encoder
from nlpmlp.tokenizer import TextTokenizer

__all__ = [
    "NEIGHBOR_METRICS",
    "ActivationStats",
    "KeyExample",
    "Neighbor",
    "NeuronReport",
    "PromotedToken",
    "check_neurons",
    "feed_forward_layers",
    "find_token_id",
    "hidden_activations",
    "nearest_tokens",
    "neuron_reports",
    "promoted_tokens",
    "scan_activations",
    "select_neurons",
    "token_text",
]

NEIGHBOR_METRICS = ("cosine", "euclidean", "cityblock", "correlation")
TRIGGER_OPEN, TRIGGER_CLOSE = "[[", "]]"  # marks the trigger token in a context


@dataclass
class KeyExample:
    """A training context that activates a neuron, trigger token marked."""

    activation: float
    position: int  # index of the trigger token in the scanned tokens
    token: str
    text: str  # decoded context with the trigger written as [[token]]


@dataclass
class PromotedToken:
    """A token whose logit the neuron's value vector raises, and that logit."""

    token: str
    logit: float


@dataclass
class NeuronReport:
    """The key and value side of one feed-forward neuron."""

    layer: int
    neuron: int
    mean_activation: float
    keys: list[KeyExample] = field(default_factory=list)
    values: list[PromotedToken] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Return the report as a JSON-ready dictionary."""
        return asdict(self)


@dataclass
class Neighbor:
    """A token of the vocabulary and its distance to the query token."""

    token: str
    distance: float


def feed_forward_layers(model: Encoder) -> list[nn.Module]:
    """Return the feed-forward sublayer of every block, first block first.

    Raises
    ------
    ConfigError
        If the model has no feed-forward sublayers (``ffn_mult`` 0).
    """
    layers = [block.ffn for block in model.blocks if block.ffn is not None]
    if not layers:
        raise ConfigError(
            "this run has no feed-forward layers (ffn_mult 0), so it has no neurons"
        )
    return layers


def hidden_activations(ffn: nn.Module, x: torch.Tensor) -> torch.Tensor:
    r"""Return the hidden activations $h$ of a feed-forward sublayer.

    Parameters
    ----------
    ffn : FeedForward, ReferenceFeedForward or GatedFeedForward
    x : tensor of shape (..., n_embd)
        Input of the sublayer (the block's second LayerNorm output).

    Returns
    -------
    tensor of shape (..., n_hidden)
        $\varphi(W_1 x + b_1)$, or its product with $W_3 x + b_3$ for the
        gated variant.
    """
    if isinstance(ffn, GatedFeedForward):
        return ffn.hidden(x)
    if isinstance(ffn, FeedForward):
        phi = get_activation(ffn.activation, ffn.a)
        return phi.function(affine(x, ffn.weight1, ffn.bias1))
    if isinstance(ffn, ReferenceFeedForward):
        return ffn.phi(ffn.fc1(x))
    raise TypeError(f"unknown feed-forward sublayer {type(ffn).__name__}")


def value_vectors(ffn: nn.Module) -> torch.Tensor:
    """Return $W_2$ of shape (n_embd, n_hidden): column $i$ is neuron $i$'s value."""
    if isinstance(ffn, ReferenceFeedForward):
        return ffn.fc2.weight
    return ffn.weight2


@dataclass
class ActivationStats:
    """Per-layer summaries of the hidden activations over a scanned text.

    ``top_values[layer]`` and ``top_positions[layer]`` have shape
    (k, n_hidden): column $i$ contains the $k$ largest activations of neuron
    $i$, largest first, and the token positions where they occurred.
    """

    mean: list[torch.Tensor]  # per layer, shape (n_hidden,)
    top_values: list[torch.Tensor]
    top_positions: list[torch.Tensor]
    n_positions: int


@torch.no_grad()
def scan_activations(
    model: Encoder,
    tokens: torch.Tensor,
    k: int,
    batch_size: int = 16,
    max_windows: int = 0,
) -> ActivationStats:
    """Run ``model`` over windows of ``tokens`` and keep each neuron's top ``k``.

    The windows are the non-overlapping windows of ``block_size`` tokens
    (``max_windows`` of them, evenly spaced, when it is positive), so every
    activation is computed with a context as long as those of training.

    Parameters
    ----------
    model : Encoder
    tokens : LongTensor of shape (n,)
    k : int
        Activations kept per neuron.
    batch_size : int
        Windows per forward pass.
    max_windows : int
        Scan at most this many windows (0: all).
    """
    layers = feed_forward_layers(model)
    captured: dict[int, torch.Tensor] = {}
    hooks = [
        ffn.register_forward_hook(_capture_hook(captured, index))
        for index, ffn in enumerate(layers)
    ]
    stats = _empty_stats(layers)
    try:
        for starts, windows in _windows(
            tokens, model.config.block_size, batch_size, max_windows
        ):
            model.hidden_states(windows)
            offsets = torch.arange(windows.shape[1])
            positions = (starts[:, None] + offsets).flatten()  # (batch * time,)
            for index in range(len(layers)):
                _update(stats, index, captured[index].flatten(0, 1), positions, k)
            stats.n_positions += positions.numel()
    finally:
        for hook in hooks:
            hook.remove()
    stats.mean = [total / stats.n_positions for total in stats.mean]
    return stats


def _capture_hook(captured: dict[int, torch.Tensor], index: int) -> Any:
    def hook(ffn: nn.Module, inputs: tuple[torch.Tensor], output: torch.Tensor) -> None:
        captured[index] = hidden_activations(ffn, inputs[0])

    return hook


def _empty_stats(layers: Sequence[nn.Module]) -> ActivationStats:
    widths = [value_vectors(ffn).shape[1] for ffn in layers]
    return ActivationStats(
        mean=[torch.zeros(n, dtype=torch.float64) for n in widths],
        top_values=[torch.empty(0, n) for n in widths],
        top_positions=[torch.empty(0, n, dtype=torch.long) for n in widths],
        n_positions=0,
    )


def _windows(
    tokens: torch.Tensor, block_size: int, batch_size: int, max_windows: int
) -> Any:
    """Yield (starts, windows) batches of the full windows of ``tokens``."""
    length = min(block_size, tokens.numel())
    starts = torch.arange(0, tokens.numel() - length + 1, length)
    if 0 < max_windows < starts.numel():
        chosen = torch.arange(max_windows) * starts.numel() // max_windows
        starts = starts[chosen]
    for first in range(0, starts.numel(), batch_size):
        group = starts[first : first + batch_size]
        offsets = group[:, None] + torch.arange(length)  # (batch, length)
        yield group, tokens[offsets]


def _update(
    stats: ActivationStats,
    index: int,
    h: torch.Tensor,
    positions: torch.Tensor,
    k: int,
) -> None:
    # h: (rows, n_hidden). The kept top k and the new rows compete together.
    stats.mean[index] += h.sum(dim=0, dtype=torch.float64)
    values = torch.cat([stats.top_values[index], h.float()])
    candidates = torch.cat(
        [stats.top_positions[index], positions[:, None].expand_as(h)]
    )
    best = values.topk(min(k, values.shape[0]), dim=0)
    stats.top_values[index] = best.values
    stats.top_positions[index] = candidates.gather(0, best.indices)


def check_neurons(
    model: Encoder, layers: Sequence[int] | None, neurons: Sequence[int] | None
) -> None:
    """Raise ``ConfigError`` if a layer or neuron index is out of range."""
    ffns = feed_forward_layers(model)
    n_hidden = value_vectors(ffns[0]).shape[1]
    for layer in layers or ():
        if not 0 <= layer < len(ffns):
            raise ConfigError(
                f"--layer {layer} is out of range: the run's feed-forward "
                f"layers are numbered 0 to {len(ffns) - 1}"
            )
    for neuron in neurons or ():
        if not 0 <= neuron < n_hidden:
            raise ConfigError(
                f"--neuron {neuron} is out of range: the neurons of each "
                f"feed-forward layer are numbered 0 to {n_hidden - 1}"
            )


def select_neurons(
    stats: ActivationStats,
    layers: Sequence[int] | None,
    neurons: Sequence[int] | None,
    top: int,
) -> list[tuple[int, int]]:
    """Return (layer, neuron) pairs: the given ones, or each layer's top by mean.

    Without ``neurons``, each layer contributes its ``top`` neurons of the
    largest mean activation. ``layers`` defaults to every layer.
    """
    chosen_layers = list(layers) if layers else list(range(len(stats.mean)))
    pairs = []
    for layer in chosen_layers:
        if neurons:
            indices = list(neurons)
        else:
            mean = stats.mean[layer]
            indices = mean.topk(min(top, mean.numel())).indices.tolist()
        pairs.extend((layer, neuron) for neuron in indices)
    return pairs


def promoted_tokens(
    model: Encoder, tokenizer: TextTokenizer, layer: int, neuron: int, k: int
) -> list[PromotedToken]:
    r"""Return the ``k`` text tokens of the largest logit $E\, v_i$.

    $v_i = W_2[:, i]$ is the value vector of neuron ``neuron`` in the
    feed-forward sublayer of block ``layer``, and $E$ the token embedding
    matrix that the LM head shares.

    NOTE: the final LayerNorm, which the residual stream passes before the
    head, is left out, so this ranks the tokens by $E\, v_i$ alone. The
    LayerNorm's per-feature gains can reorder tokens whose logits are close.
    """
    value = value_vectors(feed_forward_layers(model)[layer])[:, neuron]
    with torch.no_grad():
        logits = model.tok_emb.weight @ value  # (vocab,)
    logits[: tokenizer.n_special] = -math.inf  # text tokens only
    top = logits.topk(min(k, tokenizer.vocab_size - tokenizer.n_special))
    return [
        PromotedToken(token_text(tokenizer, int(token_id)), float(logit))
        for logit, token_id in zip(top.values, top.indices, strict=True)
    ]


def neuron_reports(
    model: Encoder,
    tokenizer: TextTokenizer,
    tokens: torch.Tensor,
    stats: ActivationStats,
    pairs: Sequence[tuple[int, int]],
    k: int,
    context: int = 8,
) -> list[NeuronReport]:
    """Build the key and value report of each (layer, neuron) pair.

    Parameters
    ----------
    model, tokenizer
        The run's model and tokenizer.
    tokens : LongTensor of shape (n,)
        The text that ``scan_activations`` scanned.
    stats : ActivationStats
        Its result.
    pairs : sequence of (layer, neuron)
    k : int
        Contexts and promoted tokens per neuron, at most the ``k`` of the scan.
    context : int
        Tokens shown on each side of the trigger, within its window. A
        causal model sees only the tokens before, so only those are shown.
    """
    reports = []
    for layer, neuron in pairs:
        keys = []
        values = stats.top_values[layer][:k, neuron].tolist()
        positions = stats.top_positions[layer][:k, neuron].tolist()
        for activation, position in zip(values, positions, strict=True):
            text = _context_text(model, tokenizer, tokens, position, context)
            token = tokenizer.token(int(tokens[position]))
            keys.append(KeyExample(activation, position, token, text))
        mean = float(stats.mean[layer][neuron])
        promoted = promoted_tokens(model, tokenizer, layer, neuron, k)
        reports.append(NeuronReport(layer, neuron, mean, keys, promoted))
    return reports


def _context_text(
    model: Encoder,
    tokenizer: TextTokenizer,
    tokens: torch.Tensor,
    position: int,
    context: int,
) -> str:
    # Windows start at multiples of the window length (see _windows), so
    # the trigger's window is known from its position alone.
    length = min(model.config.block_size, tokens.numel())
    window_start = position - position % length
    window_stop = min(window_start + length, tokens.numel())
    first = max(window_start, position - context)
    last = position + 1
    if not model.config.causal:
        last = min(window_stop, position + 1 + context)
    ids = tokens[first:last].tolist()
    trigger_index = position - first
    before = tokenizer.decode(ids[:trigger_index])
    trigger = tokenizer.decode(ids[trigger_index : trigger_index + 1])
    after = tokenizer.decode(ids[trigger_index + 1 :])
    return f"{before}{TRIGGER_OPEN}{trigger}{TRIGGER_CLOSE}{after}"


def _byte_level_table() -> dict[str, int]:
    """Return the character that byte-level BPE writes for each byte, mapped back.

    Bytes of visible Latin-1 characters stand for themselves, and the 68
    others (controls, space, soft hyphen) take the characters from U+0100
    on, in byte order. This is the alphabet of GPT-2's byte-level BPE, which
    ``tokenizers.pre_tokenizers.ByteLevel`` uses.
    """
    visible = [*range(0x21, 0x7F), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    table = {chr(byte): byte for byte in visible}
    others = [byte for byte in range(256) if byte not in visible]
    table.update({chr(0x100 + n): byte for n, byte in enumerate(others)})
    return table


_BYTE_LEVEL_TABLE = _byte_level_table()


def token_text(tokenizer: TextTokenizer, token_id: int) -> str:
    r"""Return the text of one token, partial UTF-8 characters written as ``\xNN``.

    A byte-level BPE token can hold part of a multi-byte character, the
    first byte of "é" say. Decoded alone it becomes U+FFFD, so several such
    tokens would all print as "�". This writes their bytes instead, as
    ``bytes.decode(errors="backslashreplace")`` does.
    """
    text = tokenizer.token(token_id)
    if tokenizer.kind != "bpe" or "\ufffd" not in text:
        return text
    piece = tokenizer.backend.id_to_token(token_id)
    data = bytes(_BYTE_LEVEL_TABLE[character] for character in piece)
    return data.decode("utf-8", errors="backslashreplace")


def find_token_id(tokenizer: TextTokenizer, token: str) -> int:
    """Return the id of the text token that decodes to exactly ``token``.

    Raises
    ------
    DataError
        If no text token decodes to ``token``. The message lists close
        tokens of the vocabulary and how the text splits into tokens.
    """
    texts = {}
    for token_id in range(tokenizer.n_special, tokenizer.vocab_size):
        texts.setdefault(token_text(tokenizer, token_id), token_id)
    if token in texts:
        return texts[token]
    close = difflib.get_close_matches(token, list(texts), n=5, cutoff=0.6)
    hint = (
        f"close tokens: {', '.join(map(repr, close))}" if close else "no close tokens"
    )
    pieces = [token_text(tokenizer, i) for i in tokenizer.encode(token)]
    if len(pieces) > 1:
        hint += f"; it splits into {', '.join(map(repr, pieces))}"
    raise DataError(f"token {token!r} is not in the vocabulary ({hint})")


def nearest_tokens(
    model: Encoder,
    tokenizer: TextTokenizer,
    token: str,
    metric: str = "cosine",
    k: int = 10,
) -> list[Neighbor]:
    r"""Return the ``k`` text tokens nearest to ``token`` in the embedding space.

    The distances $d(E_t, E_j)$ between the token's embedding row and every
    other text token's row come from ``foundations.distances.pairwise`` in
    float64. Ties keep vocabulary order.

    Parameters
    ----------
    model : Encoder
    tokenizer : TextTokenizer
    token : str
        The text of one token, as ``TextTokenizer.token`` writes it (with a
        byte-level BPE, a leading space is part of the token).
    metric : {"cosine", "euclidean", "cityblock", "correlation"}
    k : int
        Number of neighbours, at most the number of other text tokens.

    Raises
    ------
    DataError
        If ``token`` is not a token of the vocabulary, or ``metric`` is
        undefined for an embedding row (a constant row for "correlation").
    """
    if metric not in NEIGHBOR_METRICS:
        raise ConfigError(f"metric must be one of {NEIGHBOR_METRICS}, got {metric!r}")
    token_id = find_token_id(tokenizer, token)
    first = tokenizer.n_special
    embeddings = model.tok_emb.weight.detach().double()[first:]  # (n_text, n_embd)
    query = token_id - first
    try:
        distances = pairwise(embeddings[query : query + 1], embeddings, metric)[0]
    except ValueError as error:
        raise DataError(f"{metric} distance is undefined here: {error}") from error
    distances[query] = math.inf  # the token itself is not its own neighbour
    order = torch.argsort(distances, stable=True)[: min(k, embeddings.shape[0] - 1)]
    return [
        Neighbor(token_text(tokenizer, int(index) + first), float(distances[index]))
        for index in order
    ]
