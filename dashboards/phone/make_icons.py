"""Draw the phone app's icons (SVG and PNG) from one design: the district's urban blocks as a
3 × 3 grid, one block lit, as a block alarm lights its block. Run it after changing the design:

    .venv/bin/python dashboards/phone/make_icons.py
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parent / "static" / "icons"
NAVY, WHITE, AMBER = "#0d3b66", "#ffffff", "#ffb300"
SIZE = 512


def squares(scale: float) -> list[tuple[float, float, float, str]]:
    """(x, y, side, colour) of the nine blocks on a 512 canvas, shrunk by `scale` about its centre."""
    side, step = 80 * scale, 104 * scale
    start = SIZE / 2 - step - side / 2
    return [
        (start + col * step, start + row * step, side, AMBER if (row, col) == (1, 1) else WHITE)
        for row in range(3)
        for col in range(3)
    ]


def svg(*, rounded: bool, scale: float) -> str:
    radius = 96 if rounded else 0
    blocks = "".join(
        f'<rect x="{x:g}" y="{y:g}" width="{s:g}" height="{s:g}" rx="{12 * scale:g}" fill="{c}"/>'
        for x, y, s, c in squares(scale)
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {SIZE} {SIZE}">'
        f'<rect width="{SIZE}" height="{SIZE}" rx="{radius}" fill="{NAVY}"/>{blocks}</svg>\n'
    )


def png(*, size: int, rounded: bool, scale: float) -> Image.Image:
    factor = 4  # draw large, then shrink: smooth edges without an SVG renderer
    big = SIZE * factor
    image = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((0, 0, big - 1, big - 1), radius=(96 if rounded else 0) * factor, fill=NAVY)
    for x, y, s, colour in squares(scale):
        box = (x * factor, y * factor, (x + s) * factor, (y + s) * factor)
        draw.rounded_rectangle(box, radius=12 * scale * factor, fill=colour)
    return image.resize((size, size), Image.Resampling.LANCZOS)


def main() -> None:
    HERE.mkdir(parents=True, exist_ok=True)
    (HERE / "icon.svg").write_text(svg(rounded=True, scale=1.0))
    for size in (192, 512):
        png(size=size, rounded=True, scale=1.0).save(HERE / f"icon-{size}.png", optimize=True)
    # Maskable: full-bleed background, blocks inside the central safe circle (80% of the width).
    png(size=512, rounded=False, scale=0.78).save(HERE / "icon-maskable-512.png", optimize=True)
    png(size=180, rounded=False, scale=0.9).save(HERE / "apple-touch-icon.png", optimize=True)


if __name__ == "__main__":
    main()
