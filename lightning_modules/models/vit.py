"""timm's Vision Transformer, sized from the config and the data.

The paper's Sec. 8: "attention-based models need adaptive optimizers (e.g. Adam) to train
properly ... we think that revisiting this study for attention-based models is an
interesting direction for future work". The network is timm's own `VisionTransformer`
(module and state names unchanged: `patch_embed`, `cls_token`, `pos_embed`,
`blocks.N.attn`, `blocks.N.mlp`, `norm`, `head`), so timm's ImageNet checkpoints load into
it (`lightning_modules.init`), and the forward is split into stages (embedding, each
block, head) so a unit path starts at its unit (`landscape.stages`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from timm.models.vision_transformer import VisionTransformer

from lightning_modules.models.sizes import ModelConfigError, attention_width


class ViT(VisionTransformer):
    """A class-token ViT: `patch_size` must divide the image's height and width;
    `num_heads` must divide `embed_dim`. `width` scales `embed_dim` (smoke runs), kept a
    multiple of the heads."""

    def __init__(
        self,
        input_shape: Sequence[int],
        num_outputs: int,
        patch_size: int = 4,
        embed_dim: int = 192,
        depth: int = 12,
        num_heads: int = 3,
        mlp_ratio: float = 4.0,
        dropout: float = 0.0,
        width: float = 1.0,
    ):
        if len(input_shape) != 3:
            raise ModelConfigError(
                f"model=vit needs images (channels, height, width); the data gives {input_shape}"
            )
        channels, height, image_width = (int(n) for n in input_shape)
        if patch_size < 1 or height % patch_size or image_width % patch_size:
            sides = range(1, min(height, image_width) + 1)
            divisors = [d for d in sides if not height % d and not image_width % d]
            raise ModelConfigError(
                f"model.patch_size={patch_size} does not divide the {height}x{image_width} "
                f"images: expected one of {divisors}"
            )
        scaled = attention_width(embed_dim, num_heads, width)
        super().__init__(
            img_size=(height, image_width),
            patch_size=patch_size,
            in_chans=channels,
            num_classes=num_outputs,
            embed_dim=scaled,
            depth=depth,
            num_heads=num_heads,
            mlp_ratio=mlp_ratio,
            drop_rate=dropout,
            proj_drop_rate=dropout,
            attn_drop_rate=dropout,
        )

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Patches, class token and position embedding: the tokens the first block reads."""
        return self.norm_pre(self.patch_drop(self._pos_embed(self.patch_embed(x))))

    def head_of(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.norm(x))

    def forward_stages(self) -> list[tuple[tuple[str, ...], Callable]]:
        """Embedding, each block, then the final norm and head (`landscape.stages`)."""
        stages = [(("patch_embed", "cls_token", "pos_embed", "norm_pre"), self.embed)]
        stages += [((f"blocks.{i}",), block) for i, block in enumerate(self.blocks)]
        return [*stages, (("norm", "fc_norm", "head"), self.head_of)]
