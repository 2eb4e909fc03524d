"""Shared fixtures: real instances on loopback ports, on SQLite and (when configured) PostgreSQL."""

import os

import pytest

from tests.browser import browser, page, phone  # noqa: F401  (fixtures)
from tests.harness import PG_ENV, InstanceFactory

BACKENDS = ["sqlite"] + (["postgresql"] if os.environ.get(PG_ENV) else [])


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture
def instances(tmp_path, backend):
    """Start instances with instances.new(); all are stopped (and their databases dropped) after the test."""
    factory = InstanceFactory(tmp_path, backend, preloaded=True)
    yield factory
    factory.close()


@pytest.fixture(scope="module", params=BACKENDS)
def module_instances(request, tmp_path_factory):
    """Like `instances`, shared by the tests of one module (a story told in several steps)."""
    factory = InstanceFactory(tmp_path_factory.mktemp("instances"), request.param, preloaded=True)
    yield factory
    factory.close()
