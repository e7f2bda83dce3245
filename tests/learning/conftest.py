"""Fixtures of the end-to-end evaluate-models tests, shared by name with every test module here: the scripted LLM
server, its scripts, the providers file and the routes folder (defined in test_evaluate_models.py)."""

from tests.learning.test_evaluate_models import judging_server, llm, providers_file, routes  # noqa: F401
