"""Where the four SAT services live: production hosts (CFDI, Retenciones) or a local emulator."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from satdescarga import generated as g
from satdescarga.vocabulary import ServiceFamily

PATHS = (
    "/Autenticacion/Autenticacion.svc",
    "/SolicitaDescargaService.svc",
    "/VerificaSolicitudDescargaService.svc",
    "/DescargaMasivaService.svc",
)


@dataclass(frozen=True, slots=True)
class Endpoints:
    """The four addresses of one service family. Each family authenticates on its own."""

    service: ServiceFamily
    authenticate: str
    query: str
    verify: str
    download: str

    @classmethod
    def _production(cls, service: ServiceFamily, port: str) -> Endpoints:
        return cls(
            service,
            g.AUTENTICACION_SERVICE.port(port).address,
            g.SOLICITA_DESCARGA_SERVICE.port(port).address,
            g.VERIFICA_SOLICITUD_DESCARGA_SERVICE.port(port).address,
            g.DESCARGA_MASIVA_TERCEROS_SERVICE.port(port).address,
        )

    @classmethod
    def cfdi(cls) -> Endpoints:
        """SAT's production CFDI hosts (from the WSDL's `Cfdi` ports)."""
        return cls._production(ServiceFamily.CFDI, "Cfdi")

    @classmethod
    def retenciones(cls) -> Endpoints:
        """SAT's production Retenciones hosts (from the WSDL's `Retenciones` ports)."""
        return cls._production(ServiceFamily.RETENCIONES, "Retenciones")

    @classmethod
    def local(
        cls, base: str, service: ServiceFamily | Literal["cfdi", "retenciones"] = ServiceFamily.CFDI
    ) -> Endpoints:
        """SAT's paths under `base` (e.g. the emulator); Retenciones lives under /retenciones."""
        family = ServiceFamily(service)
        root = base.rstrip("/") + ("/retenciones" if family is ServiceFamily.RETENCIONES else "")
        return cls(family, *(root + path for path in PATHS))
