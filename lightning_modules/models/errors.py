"""A network option the network cannot be built with: one line naming it."""

from landscape.errors import LinpathError


class ModelConfigError(LinpathError, ValueError):
    """Raised by a network's constructor, before anything is trained or written."""


def check_heads(embed_dim: int, num_heads: int) -> None:
    """Multi-head attention splits the width evenly over the heads."""
    if num_heads < 1 or embed_dim < 1 or embed_dim % num_heads:
        raise ModelConfigError(
            f"model.num_heads={num_heads} does not divide model.embed_dim={embed_dim}: "
            "expected a width that is a multiple of the number of heads"
        )
