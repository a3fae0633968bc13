"""pytest plugin (entry point `pytest11`): the `sat_emulator` fixture.

    def test_download(sat_emulator):
        client = SatClient(fiel, Endpoints.local(sat_emulator.base_url))
        ...

    @pytest.mark.sat_emulator(xml_cap=10, signature_check="strict")
    def test_cap(sat_emulator): ...

The fixture starts a fresh emulator per test on a free loopback port, with the request delays
at zero (requests finish at once; advance the clock for the 72-hour rules). Options given in the
`sat_emulator` marker are passed to `Emulator(...)`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from satdescarga.emulator.context import Emulator

TEST_DEFAULTS: dict[str, Any] = {"accept_delay": 0.0, "process_delay": 0.0}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "sat_emulator(**options): options for the sat_emulator fixture (Emulator(...))"
    )


@pytest.fixture
def sat_emulator(request: pytest.FixtureRequest) -> Iterator[Emulator]:
    """A running emulated SAT (see satdescarga.emulator.Emulator)."""
    from satdescarga.emulator.context import Emulator

    marker = request.node.get_closest_marker("sat_emulator")
    options = {**TEST_DEFAULTS, **(marker.kwargs if marker else {})}
    with Emulator(**options) as emulator:
        yield emulator
