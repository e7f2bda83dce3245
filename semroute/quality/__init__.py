"""Routing quality: labelled datasets in, accuracy, out-of-scope recall, fitted parameters and plots out.

The flow: :mod:`datasets` (read labelled data) -> :mod:`dataset_routes` (routes from training data) -> :mod:`batch`
(route a labelled set as the service would, keeping every signal) -> :mod:`sweep` (decide again under any
parameters without embedding again) -> :mod:`evaluation` and :mod:`operating_points` (metrics, trade-off curve) ->
:mod:`fitting` (choose the parameters) -> :mod:`plots`. :mod:`runs` ties them together as the commands of
:mod:`cli` (``semroute eval``, ``fit``, ``routes-from-dataset``) use them.
"""
