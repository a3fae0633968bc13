"""An offline emulator of SAT's Descarga Masiva web service (CFDI and Retenciones).

`Emulator` serves it over real HTTP (see README.md in this folder); `EmulatorApp` is the bare
WSGI application; `EmulatorConfig` holds every option.
"""

from satdescarga.emulator.config import EmulatorConfig, SignatureCheck
from satdescarga.emulator.context import Emulator
from satdescarga.emulator.faults import FaultRule, FaultSpecError, parse_faults
from satdescarga.emulator.model import Direction, Family
from satdescarga.emulator.server import EmulatorApp

__all__ = [
    "Direction",
    "Emulator",
    "EmulatorApp",
    "EmulatorConfig",
    "Family",
    "FaultRule",
    "FaultSpecError",
    "SignatureCheck",
    "parse_faults",
]
