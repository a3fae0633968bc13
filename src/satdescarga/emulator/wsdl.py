"""`GET <service>?wsdl` and `?xsd=NAME`: the contract, pointing at this emulator.

Clients that build themselves from the WSDL (zeep, svcutil, SoapUI) get SAT's v1.5 contract as
shipped in satdescarga/wsdl, with the production addresses replaced by the emulator's.
"""

from __future__ import annotations

import re

from satdescarga.contract import CONTRACT_DIR

PRODUCTION_HOSTS = {
    "https://cfdidescargamasivasolicitud.clouda.sat.gob.mx": "",
    "https://cfdidescargamasiva.clouda.sat.gob.mx": "",
    "https://retendescargamasivasolicitud.clouda.sat.gob.mx": "/retenciones",
    "https://retendescargamasiva.clouda.sat.gob.mx": "/retenciones",
}
WSDL_FILES = {
    "Autenticacion": "Autenticacion.wsdl",
    "SolicitaDescargaService": "SolicitaDescargaService.wsdl",
    "VerificaSolicitudDescargaService": "VerificaSolicitudDescargaService.wsdl",
    "DescargaMasivaTercerosService": "DescargaMasivaTercerosService.wsdl",
}
_SCHEMA_LOCATION = re.compile(r'schemaLocation="(?:xsd/)?([A-Za-z0-9_.-]+\.xsd)"')


def wsdl_document(service: str, base_url: str, service_url: str) -> bytes:
    text = (CONTRACT_DIR / WSDL_FILES[service]).read_text(encoding="utf-8")
    for host, prefix in PRODUCTION_HOSTS.items():
        text = text.replace(host, base_url + prefix)
    text = _SCHEMA_LOCATION.sub(lambda m: f'schemaLocation="{service_url}?xsd={m[1]}"', text)
    return text.encode("utf-8")


def xsd_document(name: str, service_url: str) -> bytes | None:
    if not re.fullmatch(r"[A-Za-z0-9_.-]+\.xsd", name):
        return None
    path = CONTRACT_DIR / "xsd" / name
    if not path.is_file():
        return None
    text = path.read_text(encoding="utf-8")
    text = _SCHEMA_LOCATION.sub(lambda m: f'schemaLocation="{service_url}?xsd={m[1]}"', text)
    return text.encode("utf-8")
