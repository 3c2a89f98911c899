"""Read the module matrix back out of a segno SVG path, to check what a QR encodes."""

import re


def svg_path_matrix(svg: str) -> list[list[bool]]:
    """Rebuild the dark/light grid (border included) from segno's "qrline" path.

    segno draws each run of dark modules as a horizontal line: ``M x y`` or
    ``m dx dy`` moves (y is the row's centre, +0.5), ``h n`` draws n modules.
    """
    path = re.search(r'class="qrline"[^>]*\sd="([^"]+)"', svg).group(1)
    if match := re.search(r'viewBox="0 0 (\d+) \d+"', svg):
        size = int(match.group(1))
    else:
        scale = re.search(r'transform="scale\((\d+)\)"', svg)
        size = int(re.search(r'width="(\d+)"', svg).group(1)) // int(scale.group(1))
    grid = [[False] * size for _ in range(size)]
    x = y = 0.0
    for op, a, b in re.findall(r"([MmHh])(-?[\d.]+)(?: (-?[\d.]+))?", path):
        if op == "M":
            x, y = float(a), float(b)
        elif op == "m":
            x, y = x + float(a), y + float(b)
        else:
            run = float(a)
            for col in range(int(x), int(x + run)):
                grid[int(y)][col] = True
            x += run
    return grid


def with_border(matrix, border: int) -> list[list[bool]]:
    """A module matrix (rows of 0/1) surrounded by a light quiet zone."""
    width = len(matrix[0]) + 2 * border
    blank = [[False] * width for _ in range(border)]
    rows = [
        [False] * border + [bool(v) for v in row] + [False] * border for row in matrix
    ]
    return blank + rows + [list(r) for r in blank]
