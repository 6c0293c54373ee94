"""U-Net skip connections (Ronneberger et al. 2015; Isola et al., pix2pix, CVPR 2017, Sec. 3.2.1).

A U-Net is an encoder-decoder whose level ``i`` hands its input straight across to the decoder:
the decoder output of level ``i`` is concatenated with the encoder input of level ``i`` ("skip
connections between each layer i and layer n - i", pix2pix Sec. 3.2.1). Written recursively,
one level is

    block_i(x) = concat(x, up_i(block_{i+1}(down_i(x))))

with the innermost level having no ``block_{i+1}`` and the outermost level no concatenation
(its decoder output is the network output). :class:`UNetSkipBlock` is that one level;
:func:`nest_unet` nests a list of levels, outermost first, into the whole network. What ``down``
and ``up`` contain (convolutions, norms, activations, dropout) is up to the model.

Channel bookkeeping: if ``down_i`` maps ``c_{i-1} -> c_i`` channels, then ``block_i`` outputs
``2 * c_{i-1}`` channels (skip + decoded), so ``up_i`` reads ``2 * c_i`` channels -- except at
the innermost level, which reads ``c_i`` -- and writes ``c_{i-1}``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

__all__ = ["UNetSkipBlock", "nest_unet", "unet_levels"]


class UNetSkipBlock(nn.Module):
    """One U-Net level: ``concat(x, up(inner(down(x))))`` (or without the concat if ``skip=False``).

    ``inner`` is the next, deeper level (``None`` at the innermost level). Concatenation is along
    channels, input first.
    """

    def __init__(self, down: nn.Module, up: nn.Module, inner: UNetSkipBlock | None = None, skip: bool = True) -> None:
        super().__init__()
        self.down = down
        self.inner = inner
        self.up = up
        self.skip = skip

    @property
    def innermost(self) -> bool:
        return self.inner is None

    def forward(self, x: Tensor) -> Tensor:
        y = self.down(x)
        if self.inner is not None:
            y = self.inner(y)
        y = self.up(y)
        return torch.cat([x, y], dim=1) if self.skip else y

    def extra_repr(self) -> str:
        return f"skip={self.skip}, innermost={self.innermost}"


def nest_unet(levels: Sequence[tuple[nn.Module, nn.Module]]) -> UNetSkipBlock:
    """Nest ``(down_i, up_i)`` pairs, outermost first, into one U-Net.

    Every level but the outermost concatenates its input with its decoder output; the outermost
    returns its decoder output (the image).
    """
    if not levels:
        raise ValueError("a U-Net needs at least one level")
    block: UNetSkipBlock | None = None
    for index in reversed(range(len(levels))):
        down, up = levels[index]
        block = UNetSkipBlock(down, up, inner=block, skip=index > 0)
    assert block is not None
    return block


def unet_levels(outermost: UNetSkipBlock) -> list[UNetSkipBlock]:
    """The levels of a nested U-Net, outermost first."""
    levels = []
    block: UNetSkipBlock | None = outermost
    while block is not None:
        levels.append(block)
        block = block.inner
    return levels
