"""Square windows over a ``(B, H, W, C)`` token grid, for the windowed attention of SAM's ViT and TinyViT.

Both encoders pad the grid at the bottom and right to a multiple of the window and attend
within each ``ws x ws`` window. :func:`grid_to_windows` pads and partitions in one copy,
:func:`windows_to_grid` puts the windows back (merging attention heads) and drops the
padding in one copy. While ``torch.export`` traces them (the OpenVINO engine's export) they
take the pad + reshape form instead, the same values as a graph of plain ops: the copies into
slices of a fresh tensor become scatter ops that graph runtimes run slowly.
"""

from __future__ import annotations

from typing import Optional

import torch


def _window_parts(size: int, ws: int) -> list[tuple[int, int, int]]:
    """The windows along one axis as ``(first, stop, filled)`` runs: full windows, then the partial one."""
    full, rest = divmod(size, ws)
    parts = [(0, full, ws)] if full else []
    if rest:
        parts.append((full, full + 1, rest))
    return parts


def grid_to_windows(grid: torch.Tensor, window_size: int, fill: Optional[torch.Tensor] = None) -> torch.Tensor:
    """``(B, H, W, C)`` -> ``(B, nh, nw, ws, ws, C)`` windows, padded with the vector ``fill`` ``(C,)``
    (zeros if None) at the bottom and right.

    One copy: each run of full (or partial) windows is a strided view of ``grid``.
    """
    B, H, W, C = grid.shape
    ws = window_size
    nh, nw = -(-H // ws), -(-W // ws)
    if fill is None and torch.compiler.is_exporting():
        padded = torch.nn.functional.pad(grid, (0, 0, 0, nw * ws - W, 0, nh * ws - H))
        return padded.view(B, nh, ws, nw, ws, C).permute(0, 1, 3, 2, 4, 5).contiguous()
    windows = grid.new_empty(B, nh, nw, ws, ws, C)
    for r0, r1, hh in _window_parts(H, ws):
        for c0, c1, ww in _window_parts(W, ws):
            g = grid[:, r0 * ws : r0 * ws + (r1 - r0) * hh, c0 * ws : c0 * ws + (c1 - c0) * ww]
            windows[:, r0:r1, c0:c1, :hh, :ww] = g.view(B, r1 - r0, hh, c1 - c0, ww, C).permute(0, 1, 3, 2, 4, 5)
    fill = 0.0 if fill is None else fill
    if H % ws:
        windows[:, -1, :, H % ws :] = fill
    if W % ws:
        windows[:, :, -1, :, W % ws :] = fill
    return windows


def windows_to_grid(windows: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    """Per-head window outputs ``(B, nh, nw, heads, ws, ws, hd)`` -> the ``(B, H, W, heads*hd)`` grid.

    Heads are merged, windows put back in place and the padding dropped in one copy. Windows
    without a head axis are ``windows.view(B, nh, nw, 1, ws, ws, C)``.
    """
    B, nh, nw, nH, ws, _, hd = windows.shape
    H, W = hw
    if torch.compiler.is_exporting():
        whole = windows.permute(0, 1, 4, 2, 5, 3, 6).reshape(B, nh * ws, nw * ws, nH * hd)
        return whole[:, :H, :W].contiguous()
    grid = windows.new_empty(B, H, W, nH * hd)
    for r0, r1, hh in _window_parts(H, ws):
        for c0, c1, ww in _window_parts(W, ws):
            g = grid[:, r0 * ws : r0 * ws + (r1 - r0) * hh, c0 * ws : c0 * ws + (c1 - c0) * ww]
            g.view(B, r1 - r0, hh, c1 - c0, ww, nH, hd).copy_(
                windows[:, r0:r1, c0:c1, :, :hh, :ww].permute(0, 1, 4, 2, 5, 3, 6)
            )
    return grid
