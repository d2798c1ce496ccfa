"""myst-nb's renderer, taught one thing: an image output's alt text comes from its output metadata.

A figure given alt text with `plots.describe_figure` carries it in its output's metadata ({"image/png": {"alt":
...}}), where Jupyter keeps it; myst-nb reads only width and height from there. Registered as the "dlcourse" entry of the
`myst_nb.renderers` entry-point group (pyproject.toml) and selected by the book's `nb_render_plugin`.
"""

from __future__ import annotations

from myst_nb.core.render import MimeData, NbElementRenderer


class AltTextRenderer(NbElementRenderer):
    """NbElementRenderer whose images carry the alt text of their output's metadata."""

    def render_image(self, data: MimeData) -> list:
        """Render the image as myst-nb does, then set its alt text from the output metadata."""
        nodes = super().render_image(data)
        alt_text = data.output_metadata.get(data.mime_type, {}).get("alt")
        if alt_text:
            for node in nodes:
                node["alt"] = str(alt_text)
        return nodes
