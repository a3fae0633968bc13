"""Package readers and exports (issue 5): rows/s, documents/s and peak RSS.

Generates, deterministically (seeded), a metadata package of 1,000,000 rows (plus a
`_tercero.txt` file) and a CFDI package of 100,000 CFDI 4.0 documents in a temporary folder,
then runs every measurement in its own freshly spawned process, so each peak RSS is that
measurement's own. Baselines run in the same way: `csv.reader` over the decompressed text
(metadata) and a bare `lxml.etree.fromstring` of every document (CFDI).

Environment: SATDESCARGA_BENCH_ROWS / SATDESCARGA_BENCH_DOCS shrink the packages for a quick
run (the targets are judged only at full size).
"""

from __future__ import annotations

import multiprocessing
import os
import random
import shutil
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from bench import ceilings
from bench.measure import peak_rss_mb, table

ROWS = int(os.environ.get("SATDESCARGA_BENCH_ROWS", "1000000"))
DOCS = int(os.environ.get("SATDESCARGA_BENCH_DOCS", "100000"))
SEED = 20240501
HEADER = (
    "Uuid~RfcEmisor~NombreEmisor~RfcReceptor~NombreReceptor~RfcPac~FechaEmision~"
    "FechaCertificacionSat~Monto~EfectoComprobante~Estatus~FechaCancelacion"
)
TARGET_ROWS = 500_000
TARGET_SQLITE = 200_000
TARGET_DOCS = 5_000
TARGET_RSS = 150.0


# -- deterministic inputs ------------------------------------------------------------------


def _uuid(rnd: random.Random) -> str:
    h = f"{rnd.getrandbits(128):032X}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{h[16:20]}-{h[20:]}"


def _rfcs(rnd: random.Random, count: int, letters: int) -> list[str]:
    abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    return [
        "".join(rnd.choices(abc, k=letters))
        + f"{rnd.randint(50, 99):02d}{rnd.randint(1, 12):02d}{rnd.randint(1, 28):02d}"
        + "".join(rnd.choices(abc + "0123456789", k=3))
        for _ in range(count)
    ]


def _parties(rfcs: list[str], name: str) -> list[tuple[str, str]]:
    return [(rfc, name.format(i)) for i, rfc in enumerate(rfcs)]


def _moments(rnd: random.Random, count: int) -> list[str]:
    return [
        f"2024-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d} "
        f"{rnd.randint(0, 23):02d}:{rnd.randint(0, 59):02d}:{rnd.randint(0, 59):02d}"
        for _ in range(count)
    ]


def make_metadata(path: Path, rows: int) -> None:
    """A metadata package like the SAT's: one CRLF text file and a third-party file."""
    rnd = random.Random(SEED)
    issuers = _parties(_rfcs(rnd, 300, 3), "EMPRESA {} SA DE CV")
    receivers = _parties(_rfcs(rnd, 5000, 4), "CLIENTE NUMERO {} S DE RL DE CV")
    moments = _moments(rnd, 20000)
    amounts = [f"{rnd.randint(100, 50_000_000) / 100:.2f}" for _ in range(20000)]
    effects = ["I"] * 8 + ["E", "P"]
    third: list[str] = []
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("BENCH-0001_01.txt", "w", force_zip64=True) as out:
            out.write(HEADER.encode())
            done = 0
            while done < rows:
                n = min(20000, rows - done)
                lines = []
                for issuer, receiver, moment, amount, effect in zip(
                    rnd.choices(issuers, k=n),
                    rnd.choices(receivers, k=n),
                    rnd.choices(moments, k=n),
                    rnd.choices(amounts, k=n),
                    rnd.choices(effects, k=n),
                    strict=True,
                ):
                    uuid = _uuid(rnd)
                    cancelled = rnd.random() < 0.05
                    lines.append(
                        f"{uuid}~{issuer[0]}~{issuer[1]}~{receiver[0]}~{receiver[1]}~"
                        f"SAT970701NN3~{moment}~{moment}~{amount}~{effect}~"
                        f"{'0' if cancelled else '1'}~{moment if cancelled else ''}"
                    )
                    if rnd.random() < 0.02:
                        third.append(f"{uuid}~{receiver[0]}~TERCERO {len(third)}")
                out.write(("\r\n" + "\r\n".join(lines)).encode())
                done += n
        zf.writestr(
            "BENCH-0001_tercero.txt",
            ("Uuid~RfcACuentaTerceros~NombreACuentaTerceros\n" + "\n".join(third)).encode(),
        )


_CFDI = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<cfdi:Comprobante xmlns:cfdi="http://www.sat.gob.mx/cfd/4" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
    'xmlns:tfd="http://www.sat.gob.mx/TimbreFiscalDigital" Version="4.0" Serie="F" '
    'Folio="{folio}" Fecha="{fecha}" FormaPago="03" NoCertificado="30001000000500003416" '
    'Certificado="{cert}" SubTotal="{subtotal}" Moneda="MXN" Total="{total}" '
    'TipoDeComprobante="I" Exportacion="01" MetodoPago="PUE" LugarExpedicion="64000" '
    'Sello="{sello}">\n'
    '  <cfdi:Emisor Rfc="{rfc_e}" Nombre="{nombre_e}" RegimenFiscal="601"/>\n'
    '  <cfdi:Receptor Rfc="{rfc_r}" Nombre="{nombre_r}" DomicilioFiscalReceptor="64000" '
    'RegimenFiscalReceptor="601" UsoCFDI="G03"/>\n'
    "  <cfdi:Conceptos>\n{conceptos}  </cfdi:Conceptos>\n"
    '  <cfdi:Impuestos TotalImpuestosTrasladados="{iva}"><cfdi:Traslados>'
    '<cfdi:Traslado Base="{subtotal}" Impuesto="002" TipoFactor="Tasa" TasaOCuota="0.160000" '
    'Importe="{iva}"/></cfdi:Traslados></cfdi:Impuestos>\n'
    '  <cfdi:Complemento><tfd:TimbreFiscalDigital Version="1.1" UUID="{uuid}" '
    'FechaTimbrado="{fecha}" RfcProvCertif="SPR190613I52" SelloCFD="{sello}" '
    'NoCertificadoSAT="30001000000500003456" SelloSAT="{sello}"/></cfdi:Complemento>\n'
    "</cfdi:Comprobante>\n"
)
_CONCEPTO = (
    '    <cfdi:Concepto ClaveProdServ="43231500" Cantidad="1" ClaveUnidad="H87" '
    'Descripcion="Producto {n}" ValorUnitario="{importe}" Importe="{importe}" ObjetoImp="02">'
    '<cfdi:Impuestos><cfdi:Traslados><cfdi:Traslado Base="{importe}" Impuesto="002" '
    'TipoFactor="Tasa" TasaOCuota="0.160000" Importe="{iva}"/></cfdi:Traslados>'
    "</cfdi:Impuestos></cfdi:Concepto>\n"
)


def make_cfdi(path: Path, docs: int) -> None:
    """A CFDI package: `<uuid>.xml` entries of CFDI 4.0 with 1 to 5 concepts each."""
    rnd = random.Random(SEED + 1)
    b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    cert = "".join(rnd.choices(b64, k=1600))
    issuers = _parties(_rfcs(rnd, 50, 3), "EMISOR {} SA DE CV")
    receivers = _parties(_rfcs(rnd, 2000, 4), "RECEPTOR {} SC")
    moments = [m.replace(" ", "T") for m in _moments(rnd, 5000)]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for n in range(docs):
            uuid = _uuid(rnd)
            parts = [rnd.randint(100, 500_000) for _ in range(rnd.randint(1, 5))]
            conceptos = "".join(
                _CONCEPTO.format(n=i, importe=f"{p / 100:.2f}", iva=f"{p * 0.16 / 100:.2f}")
                for i, p in enumerate(parts)
            )
            subtotal = sum(parts) / 100
            issuer, receiver = rnd.choice(issuers), rnd.choice(receivers)
            xml = _CFDI.format(
                folio=n,
                fecha=rnd.choice(moments),
                cert=cert,
                sello="".join(rnd.choices(b64, k=344)),
                subtotal=f"{subtotal:.2f}",
                iva=f"{subtotal * 0.16:.2f}",
                total=f"{subtotal * 1.16:.2f}",
                rfc_e=issuer[0],
                nombre_e=issuer[1],
                rfc_r=receiver[0],
                nombre_r=receiver[1],
                conceptos=conceptos,
                uuid=uuid,
            )
            zf.writestr(f"{uuid.lower()}.xml", xml.encode())


# -- measurements (each runs in a fresh process) -------------------------------------------


def m_import(_: str, __: str) -> int:
    import satdescarga.packages  # noqa: F401

    return 0


def m_csv_baseline(path: str, _: str) -> int:
    import csv
    import io

    count = 0
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            if info.filename.endswith("_01.txt"):
                with zf.open(info) as raw:
                    text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
                    for _row in csv.reader(text, delimiter="~", quoting=csv.QUOTE_NONE):
                        count += 1
    return count - 1  # header


def m_metadata_read(path: str, _: str) -> int:
    from satdescarga.packages import MetadataPackage

    count = 0
    with MetadataPackage(path) as package:
        for _record in package:
            count += 1
    return count


def m_metadata_typed(path: str, _: str) -> int:
    from satdescarga.packages import MetadataPackage

    count = 0
    with MetadataPackage(path) as package:
        for record in package:
            record.fecha_emision  # noqa: B018
            record.monto  # noqa: B018
            count += 1
    return count


def _export(path: str, out: str, fmt: str) -> int:
    from satdescarga.packages import export_package, open_package, open_writer, table_for

    with open_package(path) as package, open_writer(fmt, table_for(package), out) as writer:
        return export_package(package, writer)


def m_sqlite(path: str, out: str) -> int:
    return _export(path, out, "sqlite")


def m_parquet(path: str, out: str) -> int:
    return _export(path, out, "parquet")


def m_xlsx(path: str, out: str) -> int:
    return _export(path, out, "xlsx")


def m_lxml_baseline(path: str, _: str) -> int:
    from lxml import etree

    count = 0
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            etree.fromstring(zf.read(info))
            count += 1
    return count


def m_cfdi_summaries(path: str, _: str) -> int:
    from satdescarga.packages import CfdiPackage

    count = 0
    with CfdiPackage(path) as package:
        for _summary in package.summaries():
            count += 1
    return count


m_ceiling_records = ceilings.records
m_ceiling_insert = ceilings.sqlite_insert
m_ceiling_indexes = ceilings.sqlite_indexes


def _child(name: str, path: str, out: str) -> tuple[int, float, float]:
    func: Callable[[str, str], int | tuple[int, float]] = globals()[name]
    # Libraries load before the clock starts (their memory still counts in the peak RSS).
    if name not in ("m_import", "m_csv_baseline", "m_lxml_baseline"):
        import satdescarga.packages  # noqa: F401
    if name == "m_parquet":
        import pyarrow.parquet  # noqa: F401
    start = time.perf_counter()
    result = func(path, out)
    if isinstance(result, tuple):  # a ceiling: it timed only its own part
        return result[0], result[1], peak_rss_mb()
    return result, time.perf_counter() - start, peak_rss_mb()


def _measure(name: str, path: Path, out: Path | None = None) -> tuple[int, float, float]:
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=context, max_tasks_per_child=1) as pool:
        return pool.submit(_child, name, str(path), str(out or "")).result()


def _clean(out: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{out}{suffix}").unlink(missing_ok=True)


def _ceiling_report(rates: dict[str, float]) -> str:
    """What the ceilings say about the two metadata targets on this machine."""
    records = rates.get("m_ceiling_records", 0.0)
    insert, indexes = rates.get("m_ceiling_insert", 0.0), rates.get("m_ceiling_indexes", 0.0)
    if not (records and insert and indexes):
        return ""
    export = 1 / (1 / insert + 1 / indexes)
    reader = 1 / (1 / records + 1 / export)
    return "\n".join(
        [
            f"ceiling: making 1 record per row, with nothing checked or inflated: "
            f"{records:,.0f} rows/s (read target {TARGET_ROWS:,})",
            f"ceiling: SQLite export with rows ready (insert, then key and indexes): "
            f"{export:,.0f} rows/s; plus making the records: {reader:,.0f} rows/s "
            f"(export target {TARGET_SQLITE:,})",
        ]
    )


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="satdescarga-bench-"))
    try:
        meta, cfdi = work / "metadata.zip", work / "cfdi.zip"
        start = time.perf_counter()
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(2, mp_context=context) as pool:  # keeps this process small
            jobs = [pool.submit(make_metadata, meta, ROWS), pool.submit(make_cfdi, cfdi, DOCS)]
            for job in jobs:
                job.result()
        print(
            f"inputs: {ROWS:,} metadata rows ({meta.stat().st_size / 2**20:.0f} MiB ZIP), "
            f"{DOCS:,} CFDI ({cfdi.stat().st_size / 2**20:.0f} MiB ZIP), "
            f"generated in {time.perf_counter() - start:.0f} s",
            flush=True,
        )
        runs: list[tuple[str, str, Path, Path | None, str, int | None, str]] = [
            ("import satdescarga.packages", "m_import", meta, None, "", None, ""),
            ("baseline: csv.reader (metadata)", "m_csv_baseline", meta, None, "rows", None, ""),
            ("metadata read", "m_metadata_read", meta, None, "rows", TARGET_ROWS, "csv"),
            ("metadata read + typed access", "m_metadata_typed", meta, None, "rows", None, "csv"),
            ("metadata -> SQLite", "m_sqlite", meta, work / "m.sqlite", "rows", TARGET_SQLITE,
             "csv"),
            ("metadata -> Parquet", "m_parquet", meta, work / "m.parquet", "rows", None, "csv"),
            ("metadata -> XLSX (peak < 150 MiB)", "m_xlsx", meta, work / "m.xlsx", "rows", None,
             "csv"),
            ("ceiling: records alone", "m_ceiling_records", meta, None, "rows", None, "csv"),
            ("ceiling: sqlite3 insert alone", "m_ceiling_insert", meta, work / "i.sqlite",
             "rows", None, "csv"),
            ("ceiling: SQLite key + indexes", "m_ceiling_indexes", meta, work / "x.sqlite",
             "rows", None, "csv"),
            ("baseline: lxml.etree.fromstring", "m_lxml_baseline", cfdi, None, "docs", None, ""),
            ("CFDI summaries", "m_cfdi_summaries", cfdi, None, "docs", TARGET_DOCS, "lxml"),
            ("CFDI -> SQLite", "m_sqlite", cfdi, work / "c.sqlite", "docs", None, "lxml"),
            ("CFDI -> Parquet", "m_parquet", cfdi, work / "c.parquet", "docs", None, "lxml"),
        ]  # fmt: skip
        baselines: dict[str, float] = {}
        rates: dict[str, float] = {}
        rows_out: list[list[object]] = []
        verdicts: list[str] = []
        full = ROWS >= 1_000_000 and DOCS >= 100_000
        for label, func, path, out, unit, target, versus in runs:
            if out is not None:
                _clean(out)
            count, seconds, rss = _measure(func, path, out)
            rate = count / seconds if seconds and count else 0.0
            rates[func] = rate
            if func == "m_csv_baseline":
                baselines["csv"] = rate
            elif func == "m_lxml_baseline":
                baselines["lxml"] = rate
            ratio = f"{rate / baselines[versus]:.2f}x" if versus in baselines else ""
            met = ""
            if target is not None:
                ok = rate >= target
                met = f"{'yes' if ok else 'NO'} (>= {target:,} {unit}/s)"
                verdicts.append(f"{label}: {met}")
            rss_ok = rss < TARGET_RSS
            if func != "m_import" and not func.startswith("m_ceiling"):
                verdicts.append(f"{label} peak RSS {rss:.0f} MB < {TARGET_RSS:.0f}: "
                                f"{'yes' if rss_ok else 'NO'}")  # fmt: skip
            rows_out.append(
                [
                    label,
                    f"{count:,}" if count else "",
                    f"{seconds:.2f}",
                    f"{rate:,.0f} {unit}/s" if unit else "",
                    f"{rss:.0f}",
                    ratio,
                    met,
                ]
            )
            print(f"  {label}: {seconds:.2f} s, peak RSS {rss:.0f} MB", flush=True)
        print()
        headers = ["measurement", "items", "seconds", "rate", "peak RSS MB", "vs baseline"]
        print(table([*headers, "target met"], rows_out))
        print()
        if not full:
            print("(reduced inputs: targets are judged only with 1,000,000 rows / 100,000 CFDI)")
        for verdict in verdicts:
            print(f"target: {verdict}")
        print(_ceiling_report(rates))
        sys.stdout.flush()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
