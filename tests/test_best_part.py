"""``settings.embedding.part: best_part`` in process: content-bearing tasks route on their instruction part, bare
ones as before, and the one vector per task that the store and learning keep is the whole text's. Real model, the
bundled routes with the setting turned on."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from semroute.embedding import FastEmbedEmbedder
from semroute.index import IndexArtifact, load_index
from semroute.learning.importing import load_outcome_table, observe
from semroute.quality.batch import route_labelled
from semroute.quality.datasets import LabelledSet
from semroute.router import Router
from semroute.task_part import EmbedPart
from semroute.types import RouteRequest
from tests.best_part_index import SUMMARIZE_AFTER, SUMMARIZE_COLON, build_index_with_part

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def best_part_router(
    tmp_path_factory: pytest.TempPathFactory, default_index_path: Path, embedder: FastEmbedEmbedder
) -> Router:
    path = build_index_with_part(
        tmp_path_factory.mktemp("best_part"), default_index_path, embedder, EmbedPart.BEST_PART
    )
    return Router(load_index(path), embedder)


@pytest.fixture(scope="module")
def whole_router(
    tmp_path_factory: pytest.TempPathFactory, default_index_path: Path, embedder: FastEmbedEmbedder
) -> Router:
    """The bundled routes embedding each task whole (they use best_part)."""
    path = build_index_with_part(tmp_path_factory.mktemp("whole"), default_index_path, embedder, EmbedPart.WHOLE)
    return Router(load_index(path), embedder)


def test_the_bundled_routes_use_best_part(default_artifact: IndexArtifact) -> None:
    assert default_artifact.policy.settings.embedding.part is EmbedPart.BEST_PART


@pytest.mark.parametrize("text", [SUMMARIZE_COLON, SUMMARIZE_AFTER])
def test_a_content_bearing_summarization_task_goes_to_summarization(
    text: str, best_part_router: Router, whole_router: Router
) -> None:
    assert len(best_part_router.embedded_parts(text)) > 1
    assert best_part_router.route(RouteRequest(text)).route == "summarization"
    assert whole_router.route(RouteRequest(text)).route != "summarization"  # `whole`: the content outweighs it


def test_bare_instructions_decide_as_with_whole(best_part_router: Router, whole_router: Router) -> None:
    texts = [json.loads(line)["text"] for line in (DATA / "default_routes_val.jsonl").read_text().splitlines()]
    requests = [RouteRequest(text) for text in texts if len(best_part_router.embedded_parts(text)) == 1]
    assert len(requests) > 100  # nearly every bare instruction is one part: it costs one embedding, as before

    other_index = {"index_fingerprint": None}
    assert [{**d.to_json(), **other_index} for d in best_part_router.route_batch(requests)] == [
        {**d.to_json(), **other_index} for d in whole_router.route_batch(requests)
    ]


def test_a_route_keeps_its_best_parts_score_and_signals(best_part_router: Router) -> None:
    request = RouteRequest(SUMMARIZE_COLON)
    parts = best_part_router.embedded_parts(request.text)
    vectors = best_part_router.embedder.embed(list(parts))
    merged = best_part_router.part_candidates([vectors], [request], complete=True)[0]
    each = [
        best_part_router.candidates(vectors[row : row + 1], [request], complete=True)[0] for row in range(len(parts))
    ]
    for position, candidate in enumerate(merged):
        best = max((listed[position] for listed in each), key=lambda c: c.score)
        assert candidate == best


def test_a_batch_answers_as_one_by_one_and_keeps_the_whole_texts_vector(best_part_router: Router) -> None:
    texts = [SUMMARIZE_COLON, "write unit tests for the parser", SUMMARIZE_AFTER]
    requests = [RouteRequest(text) for text in texts]
    decisions, vectors = best_part_router.route_embedded(requests)

    assert [d.to_json() for d in decisions] == [best_part_router.route(r).to_json() for r in requests]
    assert vectors.shape == (3, best_part_router.embedder.identity.dim)
    np.testing.assert_allclose(vectors, best_part_router.embedder.embed(texts), atol=1e-6)


def test_evaluation_routes_every_part_as_the_router_does(best_part_router: Router) -> None:
    texts = (SUMMARIZE_COLON, "write unit tests for the parser", SUMMARIZE_AFTER)
    data = LabelledSet("content", texts, ("summarization", "test_generation", "summarization"))
    routed = route_labelled(best_part_router, data, batch_size=2, progress=False)

    assert [d.to_json() for d in routed.decisions] == [best_part_router.route(RouteRequest(t)).to_json() for t in texts]
    with pytest.raises(ValueError, match="several parts"):
        route_labelled(best_part_router, data, vectors=best_part_router.embedder.embed(list(texts)), progress=False)


def test_imported_observations_are_embedded_as_the_router_keeps_tasks(best_part_router: Router, tmp_path: Path) -> None:
    path = tmp_path / "outcomes.tsv"
    path.write_text(f"text\troute\tm\tm|cost\n{SUMMARIZE_COLON}\tsummarization\t1\t0.1\n", encoding="utf-8")
    table = load_outcome_table(path, quality_scale="0-1")
    observed = observe(table, embedder=best_part_router.embedder, part=EmbedPart.BEST_PART, progress=False)
    _, served = best_part_router.route_embedded([RouteRequest(SUMMARIZE_COLON)])
    np.testing.assert_allclose(observed.observations[0].embedding, served[0], atol=1e-6)


@pytest.mark.parametrize(
    ("text", "route"),
    [
        (
            "Hello!\nPlease summarize the following meeting notes: Alice presented Q3 numbers; Bob raised hiring.",
            "summarization",
        ),
        (
            "```python\ndef area(r):\n    '''Return the area.'''\n    return 3.14 * r * r\n```\n\n"
            "Translate the docstring into French.",
            "documentation",
        ),
    ],
)
def test_a_greeting_or_a_code_fence_is_no_instruction(text: str, route: str, default_router: Router) -> None:
    """A first line of "Hello!" sent the task to general (0.71), and one of "```python" to code_change."""
    assert default_router.route(RouteRequest(text)).route == route
