"""QR codes of referral links, rendered on the server as SVG with segno."""

import io

from markupsafe import Markup

#: Error correction "M" survives a smudged print while keeping the code small.
ERROR_LEVEL = "m"


def _make(text: str):
    # Imported on first use: workers that only follow links never load segno.
    import segno

    return segno.make(text, error=ERROR_LEVEL, boost_error=False)


def qr_svg(text: str, *, scale: int = 8, border: int = 4) -> str:
    """A standalone SVG document (for download) of a QR code encoding text."""
    code = _make(text)
    buffer = io.BytesIO()
    code.save(
        buffer, kind="svg", scale=scale, border=border, dark="#111827", light="#fff"
    )
    return buffer.getvalue().decode()


def qr_inline(text: str, *, title: str) -> Markup:
    """The same QR code as inline SVG that scales with its container."""
    code = _make(text)
    svg = code.svg_inline(
        scale=1,
        border=4,
        dark="#111827",
        light="#ffffff",
        omitsize=True,
        svgclass="qr",
        title=title,
    )
    # role="img" makes screen readers announce the <title> as the image's name.
    # segno escapes the title; the rest is markup it generated from the matrix.
    return Markup(svg.replace("<svg ", '<svg role="img" ', 1))  # noqa: S704  # nosec B704
