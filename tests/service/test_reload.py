"""Hot reload: atomic swaps under continuous traffic, and refusal of artifacts that cannot serve."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import grpc
import pytest

from semroute.client import RouterClient, ServiceError
from semroute.index import read_manifest

from .conftest import RunningServer, replace_atomically, wait_until

TASKS = ["write unit tests for the parser", "Summarize this article in three bullet points"]


class _Traffic:
    """Several threads calling Route back to back until stopped, each with the client's default deadline.

    Each answer is recorded with the phase the test was in when its call started, so that a test can check that
    every call started after a swap completed was answered by the new index.
    """

    def __init__(self, target: str, threads: int = 3) -> None:
        self.failures: list[BaseException] = []
        self.answers: list[tuple[int, str]] = []  # (phase at the call's start, index fingerprint of the answer)
        self.phase = 0
        self._target = target
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._call, args=(n,)) for n in range(threads)]

    def __enter__(self) -> _Traffic:
        for thread in self._threads:
            thread.start()
        self.wait_for_answers(len(self._threads))
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def enter_phase(self, phase: int) -> None:
        """Mark the calls that start from now on."""
        self.phase = phase

    def wait_for_answers(self, count: int) -> None:
        """Wait until ``count`` calls that started in the current phase have been answered."""
        phase = self.phase
        wait_until(lambda: sum(p == phase for p, _ in self.answers) >= count, f"{count} answers in phase {phase}")

    def fingerprints(self, phase: int) -> set[str]:
        """Fingerprints of the answers to calls that started in ``phase``."""
        return {fingerprint for p, fingerprint in self.answers if p == phase}

    def _call(self, number: int) -> None:
        with RouterClient(self._target) as client:
            while not self._stop.is_set():
                phase = self.phase
                try:
                    decision = client.route(TASKS[number % len(TASKS)])
                    self.answers.append((phase, decision.index_fingerprint))
                except Exception as error:  # every failure is a finding, whatever its kind
                    self.failures.append(error)


def _fingerprint(path: Path) -> str:
    manifest = read_manifest(path)
    assert manifest is not None
    return manifest.fingerprint


def test_reloads_during_continuous_traffic_fail_no_call(start_server: Any, variant_index_path: Path) -> None:
    running: RunningServer = start_server(watch_seconds=0.1)
    original, variant = _fingerprint(running.index_path), _fingerprint(variant_index_path)
    saved_original = running.index_path.read_bytes()

    with RouterClient(running.target) as client, _Traffic(running.target) as traffic:
        replace_atomically(running.index_path, variant_index_path)  # phase 0: the file watch swaps to the variant
        wait_until(lambda: client.index_info().fingerprint == variant, "the file-watch reload")
        traffic.enter_phase(1)
        traffic.wait_for_answers(3)
        traffic.enter_phase(2)  # the ReloadIndex RPC swaps back, racing the file watch for the same file
        replace_atomically(running.index_path, saved_original)
        result = client.reload_index()
        traffic.enter_phase(3)
        traffic.wait_for_answers(3)

    assert traffic.failures == []
    assert result.index.fingerprint == original
    assert traffic.fingerprints(0) <= {original, variant} and traffic.fingerprints(2) <= {original, variant}
    assert traffic.fingerprints(1) == {variant}  # every call started after a swap got the new index
    assert traffic.fingerprints(3) == {original}


def test_corrupt_artifact_is_refused_by_rpc_and_the_old_index_keeps_serving(start_server: Any) -> None:
    running: RunningServer = start_server()
    with RouterClient(running.target) as client:
        before = client.index_info()
        replace_atomically(running.index_path, b"this is not a zip file")

        with pytest.raises(ServiceError) as refused:
            client.reload_index()

        after = client.index_info()
        assert refused.value.code is grpc.StatusCode.FAILED_PRECONDITION
        assert "unreadable" in refused.value.details
        assert after.fingerprint == before.fingerprint
        assert after.loaded_at == before.loaded_at
        assert after.last_reload_error == refused.value.details
        assert client.route(TASKS[0]).index_fingerprint == before.fingerprint


def test_corrupt_artifact_is_refused_by_the_file_watch(start_server: Any, variant_index_path: Path) -> None:
    running: RunningServer = start_server(watch_seconds=0.1)
    with RouterClient(running.target) as client:
        before = client.index_info()
        replace_atomically(running.index_path, b"PK\x03\x04 truncated")

        wait_until(lambda: client.index_info().last_reload_error != "", "the file watch to refuse the artifact")
        assert client.index_info().fingerprint == before.fingerprint
        assert client.route(TASKS[0]).index_fingerprint == before.fingerprint

        replace_atomically(running.index_path, variant_index_path)  # a good build afterwards is picked up
        wait_until(lambda: client.index_info().fingerprint == _fingerprint(variant_index_path), "the next build")
        assert client.index_info().last_reload_error == ""


def test_artifact_for_another_model_is_refused(start_server: Any, other_model_index_path: Path) -> None:
    running: RunningServer = start_server()
    with RouterClient(running.target) as client:
        before = client.index_info()
        replace_atomically(running.index_path, other_model_index_path)

        with pytest.raises(ServiceError) as refused:
            client.reload_index()

        assert refused.value.code is grpc.StatusCode.FAILED_PRECONDITION
        assert "built with" in refused.value.details
        assert client.index_info().fingerprint == before.fingerprint
