"""An offline emulator of SAT's Descarga Masiva web service (CFDI and Retenciones).

`Emulator` serves it over real HTTP (see README.md in this folder); `EmulatorApp` is the bare
WSGI application; `EmulatorConfig` holds every option. Names load on first access (PEP 562),
so the command line's `--help` does not load the server, xmlschema or cryptography.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from satdescarga.lazy import lazy_exports

if TYPE_CHECKING:
    from satdescarga.emulator.config import EmulatorConfig as EmulatorConfig
    from satdescarga.emulator.config import SignatureCheck as SignatureCheck
    from satdescarga.emulator.context import Emulator as Emulator
    from satdescarga.emulator.faults import FaultRule as FaultRule
    from satdescarga.emulator.faults import FaultSpecError as FaultSpecError
    from satdescarga.emulator.faults import parse_faults as parse_faults
    from satdescarga.emulator.server import EmulatorApp as EmulatorApp
    from satdescarga.vocabulary import DownloadType as DownloadType
    from satdescarga.vocabulary import ServiceFamily as ServiceFamily

_LAZY = {
    "DownloadType": "satdescarga.vocabulary",
    "Emulator": "satdescarga.emulator.context",
    "EmulatorApp": "satdescarga.emulator.server",
    "EmulatorConfig": "satdescarga.emulator.config",
    "ServiceFamily": "satdescarga.vocabulary",
    "FaultRule": "satdescarga.emulator.faults",
    "FaultSpecError": "satdescarga.emulator.faults",
    "SignatureCheck": "satdescarga.emulator.config",
    "parse_faults": "satdescarga.emulator.faults",
}

__all__ = sorted(_LAZY)


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())
