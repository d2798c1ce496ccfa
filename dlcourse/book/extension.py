"""The book's Sphinx extension: every image must say what it shows.

A figure without alt text is reported as a Sphinx warning naming the page, so the build's warning count (which
`dlcourse book` prints and the tests require to be zero) catches a figure made with a bare `plt.show()`.
"""

from __future__ import annotations

from docutils import nodes
from sphinx.util import logging

LOGGER = logging.getLogger(__name__)


def warn_about_images_without_alt_text(app, doctree: nodes.document, docname: str) -> None:
    """Warn once per image on this page that has no alt text."""
    for image in doctree.findall(nodes.image):
        if not image.get("alt", "").strip():
            LOGGER.warning("figure without alt text (give it with plots.describe_figure(alt_text, figure) "
                           "before plt.show()): %s",
                           image.get("uri", "?"), location=docname, type="dlcourse", subtype="alt_text")


def setup(app) -> dict:
    """Register the alt-text check."""
    app.connect("doctree-resolved", warn_about_images_without_alt_text)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1"}
