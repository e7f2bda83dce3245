"""routes-from-dataset: one loadable route per label, out-of-scope texts on the default route."""

from __future__ import annotations

from pathlib import Path

import pytest

from semroute.errors import DatasetError
from semroute.quality.dataset_routes import write_dataset_routes
from semroute.quality.datasets import LabelledSet
from semroute.route_files import load_route_set

DATA = LabelledSet(
    "toy",
    ("book a table", "Book  a TABLE", "table for two", "my balance", "how tall is everest", "router stuff"),
    ("restaurant", "restaurant", "restaurant", "balance", "oos", "router"),
)


def test_routes_load_and_hold_the_texts(tmp_path: Path) -> None:
    written = write_dataset_routes(DATA, tmp_path / "routes")
    route_set = load_route_set(written.folder)
    routes = {route.name: route for route in route_set.routes}
    assert set(routes) == {"restaurant", "balance", "router", "out_of_scope"}
    assert routes["restaurant"].utterances == ["book a table", "table for two"]  # the repeat is dropped
    assert routes["out_of_scope"].utterances == ["how tall is everest"]
    assert route_set.settings.default_route == "out_of_scope"
    assert (written.routes, written.duplicates_dropped, written.default_utterances) == (4, 1, 1)
    assert (tmp_path / "routes" / "route_router.yaml").is_file()  # never overwrites router.yaml


def test_without_oos_utterances_the_default_route_is_override_only(tmp_path: Path) -> None:
    write_dataset_routes(DATA, tmp_path / "routes", oos_utterances=False)
    assert load_route_set(tmp_path / "routes").route("out_of_scope").override_only


def test_refuses_a_folder_with_files(tmp_path: Path) -> None:
    (tmp_path / "router.yaml").write_text("x")
    with pytest.raises(DatasetError, match="not empty"):
        write_dataset_routes(DATA, tmp_path)


def test_labels_colliding_as_route_names_are_refused(tmp_path: Path) -> None:
    clash = LabelledSet("clash", ("a", "b"), ("Pin Change", "pin_change"))
    with pytest.raises(DatasetError, match="both become route 'pin_change'"):
        write_dataset_routes(clash, tmp_path / "routes")
