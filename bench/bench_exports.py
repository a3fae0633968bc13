"""A month's ZIP of 100,000 XML streamed under 150 MB RSS (issue 22, item 7).

`measure_zip(count)` streams a ZIP of `count` CFDI (about 4 KB each, every one different)
through `web.exports.zip_stream` served by uvicorn (a `StreamingResponse`, as
`/api/v1/exports/{rfc}?format=zip` answers) and read by an httpx client in the same process,
which checks the ZIP's end record and counts its bytes; the peak RSS is the whole process's
(server and client). `python -m bench exports` runs it in a process of its own;
`bench/bench_web.py` may call `measure_zip` too.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import datetime

from bench.measure import peak_rss_mb, table

DOCUMENTS = 100_000
TARGET_RSS = 150.0
_CFDI = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<cfdi:Comprobante xmlns:cfdi="http://www.sat.gob.mx/'
    'cfd/4" Version="4.0" Serie="A" Folio="{n}" Fecha="2025-02-{day:02d}T10:{minute:02d}:00" '
    'SubTotal="{amount}.00" Moneda="MXN" Total="{total}.00" TipoDeComprobante="I" Exportacion="01"'
    ' MetodoPago="PUE" LugarExpedicion="06000">\n  <cfdi:Emisor Rfc="EKU9003173C9" Nombre="ESCUELA'
    ' KEMPER URGATE" RegimenFiscal="601"/>\n  <cfdi:Receptor Rfc="XAXX010101000" Nombre="PUBLICO '
    'EN GENERAL {n}" DomicilioFiscalReceptor="06000" RegimenFiscalReceptor="616" UsoCFDI="S01"/>\n'
    "  <cfdi:Conceptos>\n{concepts}  </cfdi:Conceptos>\n  <cfdi:Complemento><tfd:TimbreFiscal"
    'Digital xmlns:tfd="http://www.sat.gob.mx/TimbreFiscalDigital" Version="1.1" UUID="{uuid}" '
    'FechaTimbrado="2025-02-{day:02d}T10:{minute:02d}:05" RfcProvCertif="SAT970701NN3" SelloCFD='
    '"{seal}" NoCertificadoSAT="30001000000500003456" SelloSAT="{seal}"/></cfdi:Complemento>\n'
    "</cfdi:Comprobante>\n"
)
_CONCEPT = (
    '    <cfdi:Concepto ClaveProdServ="01010101" Cantidad="{q}" ClaveUnidad="H87" Descripcion='
    '"Artículo {n}-{i}" ValorUnitario="{v}.00" Importe="{a}.00" ObjetoImp="02"/>\n'
)


def documents(count: int) -> Iterator[tuple[str, bytes]]:
    """`count` (UUID, XML) pairs, each different (seals of pseudo-random base64)."""
    import base64
    import random

    rnd = random.Random(22)
    for n in range(count):
        uuid = f"{rnd.getrandbits(32):08X}-{n >> 16:04X}-4{n & 0xFFF:03X}-A000-{n:012X}"
        concepts = "".join(
            _CONCEPT.format(q=i + 1, n=n, i=i, v=100 + i, a=(i + 1) * (100 + i)) for i in range(8)
        )
        seal = base64.b64encode(rnd.randbytes(256)).decode("ascii")
        yield uuid, _CFDI.format(n=n, day=1 + n % 28, minute=n % 60, amount=1000 + n % 997,
                                 total=1160 + n % 997, concepts=concepts, uuid=uuid,
                                 seal=seal).encode("utf-8")  # fmt: skip


def measure_zip(count: int = DOCUMENTS) -> tuple[int, int, float, float]:
    """(documents, ZIP bytes, seconds, peak RSS MiB) of one streamed ZIP over HTTP."""
    import httpx
    import uvicorn
    from fastapi import FastAPI
    from fastapi.responses import StreamingResponse

    from satdescarga.web.exports import zip_stream

    app = FastAPI()

    @app.get("/zip")
    def month() -> StreamingResponse:
        body = zip_stream(documents(count), datetime(2025, 3, 1))
        return StreamingResponse(body, media_type="application/zip")

    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    size, tail = 0, b""
    start = time.perf_counter()
    try:
        with httpx.stream("GET", f"http://127.0.0.1:{port}/zip", timeout=600) as answer:
            answer.raise_for_status()
            for chunk in answer.iter_bytes():
                size += len(chunk)
                tail = (tail + chunk)[-200:]
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    seconds = time.perf_counter() - start
    assert b"PK\x05\x06" in tail, "the ZIP ends with its end record"
    return count, size, seconds, peak_rss_mb()


def main() -> None:
    count, size, seconds, rss = measure_zip()
    print(table(
        ["measurement", "documents", "ZIP MB", "seconds", "docs/s", "peak RSS MB"],
        [["ZIP of a month's XML over HTTP", f"{count:,}", f"{size / 2**20:.0f}",
          f"{seconds:.1f}", f"{count / seconds:,.0f}", f"{rss:.0f}"]],
    ))  # fmt: skip
    verdict = "yes" if rss < TARGET_RSS else "NO"
    print(f"\n{count:,} XML streamed with peak RSS {rss:.0f} MB < {TARGET_RSS:.0f}: {verdict}")
    if rss >= TARGET_RSS:
        raise SystemExit(1)
