"""The report package's public names are a decision: adding one changes this list."""

import semroute.report


def test_exports() -> None:
    assert sorted(semroute.report.__all__) == [
        "Counterfactuals",
        "DecisionRecord",
        "Metrics",
        "Report",
        "Row",
        "WeeklyCost",
        "build_report",
        "counterfactuals",
        "measure",
        "most_capable_model",
        "read_decisions",
        "render_csv",
        "render_html",
        "render_json",
        "render_table",
        "report_json",
        "top_frontier_model",
    ]
