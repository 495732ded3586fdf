"""Sizes of a network that cannot be built refused in one line, and an attention network's
width from its config."""

from landscape.errors import LinpathError


class ModelConfigError(LinpathError, ValueError):
    """Raised by a network's constructor, before anything is trained or written."""


def attention_width(embed_dim: int, num_heads: int, width: float) -> int:
    """`embed_dim` scaled by `width` (smoke runs), kept a multiple of the heads; multi-head
    attention splits the width evenly over them, so they must divide `embed_dim`."""
    if num_heads < 1 or embed_dim < 1 or embed_dim % num_heads:
        raise ModelConfigError(
            f"model.num_heads={num_heads} does not divide model.embed_dim={embed_dim}: "
            "expected a width that is a multiple of the number of heads"
        )
    return max(num_heads, round(embed_dim * width / num_heads) * num_heads)
