"""Training without computing padding: a BERT-family student runs its linear layers,
activations and layer norms on the real tokens of a batch only.

Inside :func:`packed_training`, the encoder of the student works on packed tokens: after
the embeddings, the (B, L, H) hidden states become (1, T', H), the T real tokens one
after another and a few extra rows up to a multiple of :data:`ROW_MULTIPLE`
(:class:`Layout`); every per-token operation runs on those; only attention, which mixes
the tokens of a sentence, puts its queries, keys and values back in the padded
(B, heads, L, d) layout and calls the model's own attention function (SDPA or eager)
with the model's own mask (:func:`packed_attention`); the encoder's output is padded
again (zeros at padding) for pooling.

Contract: the padded model's results. Every dropout of the encoder draws its mask for
the padded shape and keeps the real tokens' rows (:class:`PackedDropout`), so a seed
trains as before; padding gets attention weight exactly 0 and no gradient, so losses
and gradients equal the padded model's up to float rounding. (transformers' own
padding-free path, FlashAttention-2's variable-length kernels, needs a GPU and draws
other dropout masks.) Why, and how much it saves: docs/performance.md, "Training skips
padding".

It applies to encoders built like BERT (``bert``, ``roberta``, ``xlm-roberta``: an
``encoder.layer`` list whose self-attention calls transformers' attention interface) that
run ``sdpa`` or ``eager`` attention, trained on a CPU; any other student trains padded,
as before (:func:`why_not_packed` says why). :func:`packed_training` is a context
manager that installs it (hooks, the encoder's dropouts, an attention implementation
registered with transformers) and takes all of it out again, so the model that is saved
is the one that was loaded. Example::

    with packed_training(model, device="cpu") as record:  # model: a SentenceTransformer
        trainer.train()
    record  # {"packed": True, "packed_tokens": T, "padded_tokens": B x L, summed over steps}
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

log = logging.getLogger(__name__)

# Model types whose encoder layers are transformers' BERT layers (same modules and calls).
PACKED_MODEL_TYPES = ("bert", "roberta", "xlm-roberta")
# Attention implementations the packed path wraps (the padded layout is theirs).
INNER_ATTENTION = ("sdpa", "eager")
# The keyword that carries a batch's layout from the encoder to its layers' attention.
LAYOUT_KWARG = "mwalign_packed_layout"
# Packed tensors have a multiple of this many rows (see Layout).
ROW_MULTIPLE = 64


@dataclass
class Layout:
    """Where the real tokens of a padded (B, L) batch are, and the packed tensors' rows.

    Packed tensors have ``rows`` rows: the T real tokens in batch order, then copies of a
    padding position up to a multiple of :data:`ROW_MULTIPLE`. Those extra rows are
    computed and dropped (their outputs are never read, so they get no gradient); they
    keep the matrix products to a few shapes, which oneDNN (bf16, and fp32 where it is
    chosen) prepares once per shape and caches (one shape per batch grows that cache and
    slows every step: docs/performance.md).
    """

    batch: int
    length: int
    index: Tensor  # (T,) positions of the real tokens in the flattened (B * L) batch
    sources: Tensor  # (rows,) the position each packed row is taken from: index, then padding

    @classmethod
    def from_mask(cls, mask: Tensor) -> Layout:
        """The layout of a (B, L) attention mask (1 for tokens, 0 for padding)."""
        batch, length = mask.shape
        flat = mask.reshape(-1)
        index = flat.nonzero().squeeze(1)
        extra = -index.numel() % ROW_MULTIPLE
        # the extra rows copy one position, padding where there is some
        sink = torch.cat([(flat == 0).nonzero().squeeze(1), index])[:1]
        return cls(batch, length, index, torch.cat([index, sink.expand(extra)]))

    @property
    def tokens(self) -> int:
        return self.index.numel()

    @property
    def rows(self) -> int:
        return self.sources.numel()

    def pack(self, padded: Tensor) -> Tensor:
        """(B, L, ...) -> (1, rows, ...): the real tokens' rows, in batch order, then extra rows."""
        return padded.flatten(0, 1).index_select(0, self.sources).unsqueeze(0)

    def unpack(self, packed: Tensor) -> Tensor:
        """(1, rows, ...) -> (B, L, ...): the real tokens' rows in place, zeros at padding."""
        rest = packed.shape[2:]
        flat = packed.new_zeros((self.batch * self.length, *rest))
        real = packed[0, : self.tokens]
        return flat.index_copy(0, self.index, real).view(self.batch, self.length, *rest)


@dataclass
class _State:
    """What one model's hooks, attention and dropouts share: the batch's attention mask, the
    layout the encoder layer running now was given (None: padded), token counts."""

    mask: Tensor | None = None
    layout: Layout | None = None
    tokens: int = 0
    padded_tokens: int = 0
    handles: list[Any] = field(default_factory=list)


@dataclass(frozen=True)
class _Batch:
    """What the encoder passes its layers for one batch (the ``LAYOUT_KWARG`` keyword): its
    layout, None when it has no padding, and the model's state.

    Each layer's attention announces the layout to the dropouts that follow it. Gradient
    checkpointing recomputes a layer from its keywords, after the forward passes of later
    batches, without the module hooks, so the layout travels with the layer's keywords.
    """

    layout: Layout | None
    state: _State


class PackedDropout(nn.Dropout):
    """``nn.Dropout`` that, on packed tokens, draws its mask for the padded batch.

    The draw is the one torch makes for a padded input on a CPU (``empty_like(input)
    .bernoulli_(1 - p)``, scaled by ``1 / (1 - p)``), so each real token gets the mask the
    padded model would give it and the random stream advances as it would.
    """

    def __init__(self, p: float, inplace: bool, state: _State):
        super().__init__(p, inplace)
        self._state = state

    def forward(self, x: Tensor) -> Tensor:
        layout = self._state.layout
        if layout is None or not self.training or self.p == 0:
            return super().forward(x)
        if x.dim() < 2 or x.shape[:2] != (1, layout.rows):
            raise RuntimeError(
                f"packed dropout: input of shape {tuple(x.shape)}, but the batch is packed "
                f"as (1, {layout.rows}, ...)"
            )
        if self.p == 1:
            return x * 0
        shape = (layout.batch, layout.length, *x.shape[2:])
        noise = x.new_empty(shape).bernoulli_(1 - self.p)
        noise = layout.pack(noise).div_(1 - self.p)
        return x.mul_(noise) if self.inplace else x * noise


def packed_attention(inner):
    """An attention function that takes packed (1, heads, T, d) queries, keys and values,
    runs ``inner`` (the model's own attention function) on the padded batch with the
    model's own mask, and returns the packed (1, T, heads, d) result."""

    def attention(module, query, key, value, attention_mask, **kwargs):
        batch = kwargs.pop(LAYOUT_KWARG, None)
        layout = batch.layout if batch is not None else None
        if batch is not None:
            batch.state.layout = layout  # for this layer's dropouts, which come next
        if layout is None:
            return inner(module, query, key, value, attention_mask, **kwargs)
        # (1, h, T, d) -> (1, T, h, d) -> (B, L, h, d) -> (B, h, L, d), as the padded model has it
        query, key, value = (
            layout.unpack(t.transpose(1, 2)).transpose(1, 2) for t in (query, key, value)
        )
        output, weights = inner(module, query, key, value, attention_mask, **kwargs)
        return layout.pack(output), weights  # (B, L, h, d) -> (1, T, h, d)

    return attention


def _register(inner_name: str, attention_module: nn.Module) -> str:
    """Register the packed wrapper of ``inner_name`` (and its mask function) with transformers."""
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, AttentionMaskInterface
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

    if inner_name == "eager":  # the model's own module-level function, as its layers call it
        inner = sys.modules[type(attention_module).__module__].eager_attention_forward
    else:
        inner = ALL_ATTENTION_FUNCTIONS[inner_name]
    name = f"mwalign_packed_{inner_name}"
    AttentionInterface.register(name, packed_attention(inner))
    AttentionMaskInterface.register(name, ALL_MASK_ATTENTION_FUNCTIONS[inner_name])
    return name


def _encoder_layers(backbone: nn.Module) -> nn.ModuleList | None:
    encoder = getattr(backbone, "encoder", None)
    layers = getattr(encoder, "layer", None)
    return layers if isinstance(layers, nn.ModuleList) and len(layers) else None


def why_not_packed(backbone: nn.Module) -> str | None:
    """Why the packed path does not apply to ``backbone`` (a transformers model), or None."""
    config = backbone.config
    if config.model_type not in PACKED_MODEL_TYPES:
        return f"model type {config.model_type!r} (packed: {', '.join(PACKED_MODEL_TYPES)})"
    if config._attn_implementation not in INNER_ATTENTION:
        return f"attention {config._attn_implementation!r} (packed: {', '.join(INNER_ATTENTION)})"
    if getattr(config, "is_decoder", False) or getattr(config, "add_cross_attention", False):
        return "a decoder"
    if getattr(config, "position_embedding_type", "absolute") != "absolute":
        return f"position embeddings {config.position_embedding_type!r}"
    if _encoder_layers(backbone) is None:
        return f"{type(backbone).__name__} has no encoder.layer"
    return None


def _swap_dropouts(layers: nn.ModuleList, state: _State) -> list[tuple[nn.Module, str, nn.Module]]:
    """Put a :class:`PackedDropout` in place of every dropout of the layers; returns what to
    put back (parent, attribute, original)."""
    swapped = []
    for layer in layers:
        for parent in layer.modules():
            for name, child in list(parent.named_children()):
                if type(child) is nn.Dropout:
                    setattr(parent, name, PackedDropout(child.p, child.inplace, state))
                    swapped.append((parent, name, child))
    return swapped


def _owner(model: nn.Module, backbone: nn.Module) -> nn.Module:
    """The sentence-transformers module that runs ``backbone`` (it calls the model's forward
    method directly, so the backbone's own hooks never see the batch)."""
    for module in model.modules():
        if module is not backbone and any(child is backbone for child in module.children()):
            return module
    raise ValueError(f"no module of the model holds its {type(backbone).__name__}")


def _install_hooks(model: nn.Module, backbone: nn.Module, state: _State) -> None:
    def remember_mask(module, args, kwargs):
        features = args[0] if args else kwargs.get("features", {})
        state.mask = features.get("attention_mask") if isinstance(features, Mapping) else None

    def pack_input(module, args, kwargs):
        # In training every batch carries its layout (None: padded), so each layer's
        # attention sets the one its dropouts use, also when a layer is recomputed.
        hidden = args[0] if args else kwargs.pop("hidden_states")
        mask, state.mask = state.mask, None
        if not module.training:
            return None
        if mask is None or mask.shape != hidden.shape[:2]:
            return args, {**kwargs, LAYOUT_KWARG: _Batch(None, state)}
        state.tokens += int(mask.sum())
        state.padded_tokens += mask.numel()
        if bool(mask.all()):
            return args, {**kwargs, LAYOUT_KWARG: _Batch(None, state)}
        layout = Layout.from_mask(mask)
        return (layout.pack(hidden), *args[1:]), {**kwargs, LAYOUT_KWARG: _Batch(layout, state)}

    def unpack_output(module, args, kwargs, output):
        batch = kwargs.get(LAYOUT_KWARG)
        if batch is not None and batch.layout is not None:
            output.last_hidden_state = batch.layout.unpack(output.last_hidden_state)
        return output

    state.handles += [
        _owner(model, backbone).register_forward_pre_hook(remember_mask, with_kwargs=True),
        backbone.encoder.register_forward_pre_hook(pack_input, with_kwargs=True),
        backbone.encoder.register_forward_hook(unpack_output, with_kwargs=True),
    ]


@contextlib.contextmanager
def packed_training(model: nn.Module, *, device: str = "cpu") -> Iterator[dict[str, Any]]:
    """Train ``model`` (a SentenceTransformer) on packed tokens inside the block, where its
    encoder allows it (:func:`why_not_packed`) and it trains on a CPU; yields a record that,
    after the block, holds ``packed`` (bool), the reason when not, and the tokens encoded in
    training mode: ``packed_tokens`` (real) of ``padded_tokens``.

    On a GPU the views of a step share one padded forward pass (:mod:`mwalign.train.losses
    .views`) and the padded path is kept: the packed one has only run on CPUs.
    """
    backbone = model.transformers_model
    reason = (
        why_not_packed(backbone)
        if device == "cpu"
        else f"on {device}, where the views of a step share one padded forward pass"
    )
    record: dict[str, Any] = {"packed": reason is None}
    if reason is not None:
        record["packed_reason"] = f"trained padded: {reason}"
        log.info("training on padded batches: %s", reason)
        yield record
        return
    layers = _encoder_layers(backbone)
    original = backbone.config._attn_implementation
    state = _State()
    backbone.config._attn_implementation = _register(original, layers[0].attention.self)
    swapped = _swap_dropouts(layers, state)
    _install_hooks(model, backbone, state)
    log.info("training on packed tokens: padding skipped in %d layers", len(layers))
    try:
        yield record
    finally:
        for handle in state.handles:
            handle.remove()
        for parent, name, child in swapped:
            setattr(parent, name, child)
        backbone.config._attn_implementation = original
        record["packed_tokens"] = state.tokens
        record["padded_tokens"] = state.padded_tokens
        skipped = 1 - state.tokens / state.padded_tokens if state.padded_tokens else 0.0
        log.info(
            "packed training: %d tokens of %d padded (%.1f%% padding skipped)",
            state.tokens,
            state.padded_tokens,
            100 * skipped,
        )


__all__ = ["Layout", "PackedDropout", "packed_attention", "packed_training", "why_not_packed"]
