"""Indexes of the bundled routes with another ``settings.embedding.part`` (the bundled routes use ``best_part``), for
the tests that compare ``best_part`` with ``whole``."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from semroute.embedding import Embedder
from semroute.index import build_index
from semroute.route_files import load_route_set
from semroute.task_part import EmbedPart
from tests.conftest import DEFAULT_ROUTES

# Content-bearing summarization tasks of the project's evaluation set (research/build_eval.py in the probe): the
# instruction first then the content on one line, and the content first then the instruction in a paragraph of its
# own. Embedded whole, both go elsewhere on the bundled routes.
SUMMARIZE_COLON = (
    "Summarize this meeting transcript into the main decisions: Weekly ops sync. The vendor contract renews in 30 "
    "days. Nobody objected to renewing, but Maria wants a quote from a second vendor first."
)
SUMMARIZE_AFTER = (
    "Regional rail operator NorthLink will add two late-night trains on weekends starting in March. The company said "
    "ridership after 10 p.m. has doubled since last spring.\n\n"
    "I don't have time to read this whole article, what does it say, briefly?"
)


def build_index_with_part(folder: Path, default_index_path: Path, embedder: Embedder, part: EmbedPart) -> Path:
    """Build the bundled routes' index with ``part`` in ``folder`` (reusing the default index's utterance vectors) and
    return its path."""
    routes = folder / "routes"
    shutil.copytree(DEFAULT_ROUTES, routes)
    settings = routes / "router.yaml"
    text = re.sub(r"\n    part: [a-z_]+[^\n]*", "", settings.read_text(), count=1)
    settings.write_text(text.replace("  embedding:\n", f"  embedding:\n    part: {part.value}\n", 1))
    route_set = load_route_set(routes)
    assert route_set.settings.embedding.part is part
    path = folder / "semroute-index.zip"
    shutil.copyfile(default_index_path, path)  # incremental: only the classifier is trained again
    build_index(route_set, path, embedder, progress=False)
    return path
