"""MkDocs hooks: the generated parts of the documentation (benchmark tables, config reference)."""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import render  # noqa: E402


def on_page_markdown(markdown, page, config, files):
    return render.fill(markdown)
