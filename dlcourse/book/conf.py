"""Sphinx configuration of the course's web book (`dlcourse book`); the source folder is staged by dlcourse.book.

Everything the site needs is local: the theme's assets, MathJax (vendored from the django-static-mathjax wheel
into _static/mathjax by dlcourse.book), Sphinx's search index. Nothing on a page asks another host for anything.
"""

from __future__ import annotations

import os

project = "dlcourse"
author = "the dlcourse authors"
copyright = "the dlcourse authors; code MIT, data under each file's licence (datasets/README.md)"
language = "en"

extensions = ["myst_nb", "dlcourse.book.extension"]
source_suffix = {".md": "myst-nb", ".ipynb": "myst-nb"}
root_doc = "index"
exclude_patterns = ["notebooks/**", "_build", "**.ipynb_checkpoints"]

myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_dmath_double_inline = True  # $$...$$ inside a paragraph is display math, as in JupyterLab
myst_heading_anchors = 3
suppress_warnings = ["myst.header", "mystnb.unknown_mime_type"]

# Executed with jupyter-cache: a rebuild executes only the notebooks whose code changed.
nb_execution_mode = "cache"
nb_execution_cache_path = os.environ["DLCOURSE_BOOK_CACHE"]
nb_execution_timeout = int(os.environ.get("DLCOURSE_BOOK_TIMEOUT", "900"))
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_merge_streams = True
nb_ipywidgets_js = {}  # no widget outputs; without this myst-nb would link require.js from a CDN
nb_render_plugin = "dlcourse"  # dlcourse.book.renderer: images carry the alt text their notebook output holds

html_theme = "sphinx_book_theme"
html_title = "dlcourse: deep learning with Keras"
html_static_path = [os.path.join(os.environ["DLCOURSE_BOOK_SOURCE"], "_static")]
html_css_files = ["dlcourse.css"]
html_js_files = ["dlcourse.js"]
html_last_updated_fmt = None
html_show_sourcelink = False
html_copy_source = False
html_theme_options = {
    "use_download_button": False,  # each chapter page links to its student notebook in its "Run it yourself" box
    "use_fullscreen_button": False,
    "use_repository_button": False,
    "show_toc_level": 2,
    "home_page_in_toc": True,
}
mathjax_path = "mathjax/tex-mml-chtml.js"
# mathtools (psmallmatrix, ...) is not in the combined file; the loader takes it from _static/mathjax/input/tex/.
mathjax3_config = {"options": {"enableMenu": False}, "loader": {"load": ["[tex]/mathtools"]},
                   "tex": {"packages": {"[+]": ["mathtools"]}}}
html_context = {"default_mode": "light"}  # figures are drawn on white; readers can switch to dark
html_favicon = os.path.join(os.environ["DLCOURSE_BOOK_SOURCE"], "_static", "favicon.svg")
