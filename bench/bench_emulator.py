"""Emulator benchmarks: a 1,000,000-row metadata request and a large XML package, generated
and streamed over loopback HTTP with bounded memory.

Set BENCH_EMULATOR_ROWS / BENCH_EMULATOR_XML to change the sizes (defaults 1,000,000 / 40,000).
"""

from __future__ import annotations

import os
import time
from datetime import timedelta
from typing import Any

import requests

from bench.measure import peak_rss_mb, table
from satdescarga import generated as g
from satdescarga.clock import to_local
from satdescarga.emulator import Emulator
from tests.emulator.conftest import SatCaller, envelope, signed_body

ROWS = int(os.environ.get("BENCH_EMULATOR_ROWS", "1000000"))
XML_DOCS = int(os.environ.get("BENCH_EMULATOR_XML", "40000"))


def _request(sat: Emulator, caller: SatCaller, kind: Any, days: float) -> tuple[str, float, int]:
    end = to_local(sat.now()).replace(microsecond=0)
    result = caller.emitidos(
        tipo_solicitud=kind,
        estado_comprobante=g.EstadoComprobante.TODOS if kind.value == "Metadata" else None,
        fecha_inicial=end - timedelta(days=days),
        fecha_final=end,
    )
    assert result.id_solicitud is not None, result
    start = time.perf_counter()
    status = caller.verifica(result.id_solicitud)
    while status.estado_solicitud in (1, 2):
        time.sleep(0.2)
        status = caller.verifica(result.id_solicitud)
    assert status.estado_solicitud == 3, status
    return result.id_solicitud, time.perf_counter() - start, status.numero_cfdis


def _download(caller: SatCaller, package: str) -> tuple[int, float]:
    """Stream one package's response to nowhere; return (bytes on the wire, seconds)."""
    body = envelope(
        signed_body(
            g.PeticionDescargaMasivaTercerosEntrada(
                peticion_descarga=g.PeticionDescargaMasivaTerceros(
                    id_paquete=package, rfc_solicitante=caller.fiel.rfc
                )
            ),
            caller.fiel,
        )
    )
    headers = {
        "Content-Type": "text/xml; charset=utf-8",
        "SOAPAction": g.DESCARGAR.soap_action,
        "Authorization": f'WRAP access_token="{caller.token or caller.autentica()}"',
        "Accept-Encoding": "identity",
    }
    start = time.perf_counter()
    size = 0
    with requests.post(
        caller.url("descarga"), data=body, headers=headers, stream=True, timeout=600
    ) as reply:
        for chunk in reply.iter_content(1 << 20):
            size += len(chunk)
    return size, time.perf_counter() - start


def main() -> None:
    rows = []
    daily = 86_400
    options: dict[str, Any] = {"accept_delay": 0, "process_delay": 0, "daily_documents": daily}
    with Emulator(metadata_per_package=ROWS, xml_per_package=XML_DOCS, **options) as sat:
        caller = SatCaller(sat)
        caller.autentica()
        request_id, seconds, count = _request(
            sat, caller, g.TipoDescargaMasivaTerceros.METADATA, (ROWS - 1) / daily
        )
        rows.append(("metadata: find + count", f"{count:,} rows", f"{seconds:.1f} s", ""))
        package = f"{request_id}_01"
        size, seconds = _download(caller, package)
        rows.append(
            (
                "metadata: build + stream",
                f"{size / 1e6:.0f} MB",
                f"{seconds:.1f} s",
                f"{peak_rss_mb():.0f} MB",
            )
        )
        caller.autentica()
        request_id, seconds, count = _request(
            sat, caller, g.TipoDescargaMasivaTerceros.CFDI, (XML_DOCS - 1) / daily
        )
        rows.append(("xml: find + count", f"{count:,} docs", f"{seconds:.1f} s", ""))
        size, seconds = _download(caller, f"{request_id}_01")
        rows.append(
            (
                "xml: build + stream",
                f"{size / 1e6:.0f} MB",
                f"{seconds:.1f} s",
                f"{peak_rss_mb():.0f} MB",
            )
        )
    print(table(("step", "size", "time", "peak RSS"), rows))
