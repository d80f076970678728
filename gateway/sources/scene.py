"""The synthetic camera's picture: a moving scene whose frames carry their own timestamp.

Pure numpy.  Each frame has, on its top rows, a barcode of its wall-clock time in
milliseconds (robust to H.264 and JPEG compression) and a human-readable clock; tests and
benchmarks read the barcode back with :func:`read_timestamp`.
"""

from __future__ import annotations

import time

import numpy as np

BITS = 44  # milliseconds since the epoch fit in 44 bits until the year 2527
_MARK = (1, 0, 1, 0)  # start pattern, lets the reader reject a frame without a barcode
_CELLS = len(_MARK) + BITS
HI, LO = 235, 16

# A 3x5 font for the clock text.
_FONT = {
    "0": "111101101101111",
    "1": "010110010010111",
    "2": "111001111100111",
    "3": "111001111001111",
    "4": "101101111001001",
    "5": "111100111001111",
    "6": "111100111101111",
    "7": "111001001001001",
    "8": "111101111101111",
    "9": "111101111001111",
    ":": "000010000010000",
    ".": "000000000000010",
    "-": "000000111000000",
    " ": "000000000000000",
}


def barcode_height(height: int) -> int:
    return max(8, height // 24)


def _background(width: int, height: int) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width]
    bg = 60 + 40 * np.sin(xx / 37.0) * np.cos(yy / 23.0) + 30 * (yy / max(height, 1))
    return bg.clip(16, 235).astype(np.uint8)


class Scene:
    """Renders Y planes; U and V stay constant (grey) to keep the encoder's work small."""

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.bg = _background(width, height)
        self.bar_h = barcode_height(height)
        self.cell_w = width // _CELLS
        self.box = max(8, height // 6)

    def render(self, t: float, *, moving: bool = True) -> np.ndarray:
        y = self.bg.copy()
        if moving:
            # A bright box sweeping left to right every 8 seconds, bobbing vertically.
            span = self.width - self.box
            x = int((t % 8.0) / 8.0 * span)
            top = self.bar_h * 3 + int(
                (np.sin(t * 1.3) * 0.5 + 0.5) * (self.height - self.box - self.bar_h * 4)
            )
            y[top : top + self.box, x : x + self.box] = 220
        self._draw_barcode(y, int(round(t * 1000)))
        self._draw_text(
            y, time.strftime("%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}"
        )
        return y

    def _draw_barcode(self, y: np.ndarray, ms: int) -> None:
        bits = list(_MARK) + [(ms >> (BITS - 1 - i)) & 1 for i in range(BITS)]
        row = np.repeat(np.array([HI if b else LO for b in bits], np.uint8), self.cell_w)
        strip = np.full(self.width, LO, np.uint8)
        strip[: row.size] = row
        y[: self.bar_h, :] = strip

    def _draw_text(self, y: np.ndarray, text: str) -> None:
        scale = max(2, self.height // 90)
        top = self.bar_h + scale * 2
        left = scale * 2
        for ch in text:
            glyph = _FONT.get(ch)
            if glyph is None:
                continue
            g = np.array([int(c) for c in glyph], np.uint8).reshape(5, 3)
            block = np.kron(g, np.ones((scale, scale), np.uint8)).astype(bool)
            h, w = block.shape
            if top + h > y.shape[0] or left + w > y.shape[1]:
                break
            region = y[top : top + h, left : left + w]
            region[block] = 235
            region[~block] = 16
            left += w + scale


def read_timestamp(y: np.ndarray) -> float | None:
    """The wall-clock time (seconds) encoded in a frame's barcode, or None."""
    height, width = y.shape[:2]
    bar_h = barcode_height(height)
    cell_w = width // _CELLS
    if cell_w < 1:
        return None
    row = y[bar_h // 4 : bar_h - bar_h // 4, :].astype(np.float32).mean(axis=0)
    centres = (np.arange(_CELLS) * cell_w + cell_w // 2).astype(int)
    bits = [int(row[c] > (HI + LO) / 2) for c in centres]
    if tuple(bits[: len(_MARK)]) != _MARK:
        return None
    ms = 0
    for b in bits[len(_MARK) :]:
        ms = (ms << 1) | b
    return ms / 1000.0
