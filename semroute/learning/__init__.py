"""Learning from outcomes: which model of a route's chain each task needs.

The flow: outcomes (served completions in the store, benchmark tables imported with ``semroute outcomes import``,
``semroute evaluate-models`` runs) -> :mod:`~semroute.learning.observations` (one row per task and model) ->
:mod:`~semroute.learning.estimator` (per route and model, a calibrated P(success | task) from the nearest past tasks
and the task's structure) -> written into the index artifact (:mod:`~semroute.learning.artifact`) -> at serving time
:mod:`~semroute.learning.choice` picks, within the route's own chain, the cheapest model good enough for the task.
"""
