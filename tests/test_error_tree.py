"""One error root: every exception the library defines is a SatError (the emulator's internal
signals, which never leave the server, are the exception)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import satdescarga
from satdescarga.errors import SatError

SERVER_SIDE = "satdescarga.emulator"
INTERNAL = {"TextDecodeError"}  # turned into PackageEncodingError before it leaves the reader


def test_every_library_exception_is_a_sat_error() -> None:
    strays = []
    for module_info in pkgutil.walk_packages(satdescarga.__path__, "satdescarga."):
        if module_info.name.startswith((SERVER_SIDE, "satdescarga.generated")) or (
            module_info.name.endswith("__main__")
        ):
            continue
        module = importlib.import_module(module_info.name)
        for name, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and value.__module__ == module.__name__
                and not issubclass(value, SatError)
                and not name.startswith("_")  # private control-flow signals
                and name not in INTERNAL
            ):
                strays.append(f"{module.__name__}.{name}")
    assert strays == []
