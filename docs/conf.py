"""Sphinx configuration of the idex documentation site.

Build (warnings are errors, as in the test suite): ``python -m sphinx -W --keep-going -b html docs docs/_build``.
The API reference is generated from the numpydoc docstrings; the examples in ``docs/examples`` are executed
by sphinx-gallery on every build, so a broken example fails the build.
"""

from __future__ import annotations

import os

import idex

os.environ.setdefault("MPLBACKEND", "Agg")

project = "idex"
author = "the idex developers"
copyright = "the idex developers"  # noqa: A001 (Sphinx's name)
release = version = idex.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = [
    "_build",
    "examples/README.txt",
    "auto_examples/*.ipynb",
    "auto_examples/*.py",
    "auto_examples/*.zip",
    "auto_examples/*.json",
    "auto_examples/*.md5",
]
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence"]
suppress_warnings = ["myst.xref_missing"]  # guides link to repository files (schemas/, tests/) outside the site

autosummary_generate = True
templates_path = ["_templates"]
nitpicky = True  # a reference that resolves to nothing is a warning, hence an error in the build
autodoc_typehints = "none"  # numpydoc renders the types written in the docstrings
numpydoc_show_class_members = False
numpydoc_xref_param_type = False

sphinx_gallery_conf = {
    "examples_dirs": "examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "download_all_examples": False,
    "remove_config_comments": True,
    "abort_on_example_error": True,
}

html_theme = "pydata_sphinx_theme"
html_title = f"idex {release}"
html_theme_options = {"navigation_with_keys": False}
