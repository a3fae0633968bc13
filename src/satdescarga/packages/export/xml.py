"""Extracting CFDI documents as `<UUID>.xml` files, safely named and written atomically.

The CLI's `--xml` and the sync engine both write documents while the rows of the same
package are exported; this is the one place that turns a document into a file.
"""

from __future__ import annotations

import os
from pathlib import Path

from satdescarga.packages.cfdi import CfdiDocument
from satdescarga.packages.errors import ExportError
from satdescarga.packages.export.base import AtomicFile
from satdescarga.packages.metadata.record import UUID_PATTERN


class XmlExtractor:
    """Writes documents as `<UUID>.xml` in one folder, atomically (temporary file + rename).

    The name comes only from the validated TimbreFiscalDigital UUID, never from the ZIP, so no
    entry name can reach the file system. An existing file for the same UUID is replaced.
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ExportError(f"no se pudo crear la carpeta: {exc}", path=self.directory) from exc
        self.written = 0

    def write(self, uuid: str, xml: bytes) -> Path:
        if not UUID_PATTERN.fullmatch(uuid):
            raise ValueError(f"UUID inválido para un nombre de archivo: {uuid!r}")
        target = self.directory / f"{uuid}.xml"
        try:
            out = AtomicFile(target)
            try:
                out.raw.write(xml)
            except BaseException:
                out.discard()
                raise
            out.commit()
        except OSError as exc:
            raise ExportError(f"no se pudo escribir: {exc}", path=target) from exc
        self.written += 1
        return target

    def write_document(self, document: CfdiDocument) -> Path:
        """Write one document of a package (as `<UUID>.xml`)."""
        return self.write(document.uuid, document.xml)
