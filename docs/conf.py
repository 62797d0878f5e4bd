"""Sphinx configuration of the course's website (`make site`, tools/build_site.py stages the sources).

Why Sphinx with myst-nb and sphinx-book-theme (Jupyter Book 1's own stack): it renders the notebooks from their stored
outputs (`nb_execution_mode = "off"`: nothing re-runs), its pages are plain static HTML whose search index is a
script (`searchindex.js`), so search and navigation work from a folder opened on disk as well as served, and every
asset it needs comes from PyPI: the theme vendors its icons, MathJax 3 comes from the sphinx-mathjax-offline wheel.
No page loads a script, a style or a font from a CDN (tests/test_site.py checks each page in Chromium).
"""
from importlib.metadata import distribution
from pathlib import Path

project = "videomae-minimal"
author = "videomae-minimal contributors"
copyright = "the videomae-minimal contributors; Apache-2.0"

extensions = ["myst_nb", "sphinx_copybutton", "sphinx.ext.mathjax"]
root_doc = "index"
exclude_patterns = ["_build", "**.ipynb_checkpoints"]

# The notebooks as they were executed and committed: their stored outputs, figures included. Nothing runs.
nb_execution_mode = "off"
nb_ipywidgets_js = {}  # no widget manager (it would come from a CDN); the course has no widgets
myst_enable_extensions = ["dollarmath", "amsmath"]  # $...$ and $$...$$ in the notebooks' markdown
myst_heading_anchors = 3
suppress_warnings = ["myst.header"]  # notebooks start at "#", then "##": a level skipped is not an error here

# MathJax 3 served from the site itself (SVG output: no web fonts to load, which a page opened from disk may not)
_MATHJAX = Path(distribution("sphinx-mathjax-offline").locate_file("sphinx-mathjax-offline")) / "static"
html_static_path = [str(_MATHJAX), "_static"]
html_js_files = ["file-protocol.js"]
html_css_files = ["course.css"]  # code and formulas fit the page's column: no sideways scrolling
mathjax_path = "mathjax/tex-svg.js"

html_theme = "sphinx_book_theme"
html_title = "videomae-minimal: VideoMAE from scratch"
html_sourcelink_suffix = ""  # _sources/notebooks/NN.ipynb, the notebook itself: the download button links it
html_copy_source = True
html_show_sphinx = False
html_last_updated_fmt = None
html_theme_options = {
    "use_download_button": True,  # each page: download its source (.ipynb for a notebook)
    "use_fullscreen_button": False,
    "use_repository_button": False,
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "show_prev_next": True,
}
copybutton_exclude = ".linenos, .gp, .go"
copybutton_selector = "div.cell_input div.highlight pre, div.highlight-bash pre, div.highlight-python pre"
html_context = {"default_mode": "light"}  # a page opened the first time has no stored mode: say which, not ""
html_favicon = "favicon.svg"  # a page without one makes the browser ask for /favicon.ico, a 404 on every visit
