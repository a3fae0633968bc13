"""XML kept in a directory every worker shares (`fleet init --xml-dir`), not in PostgreSQL.

The directory holds `<RFC>/<emitidos|recibidos>/<YYYY>/<MM>/<UUID>.xml` (as the single
taxpayer's outputs) and a marker, `.satdescarga-flota`, with the fleet's id. A worker checks
the marker at start, so one that sees an empty or foreign folder (a share not mounted on its
machine, a typo) refuses to run instead of writing XML where no other worker looks.

Each file is written under a temporary name, fsynced and renamed; the folders a package
touched are fsynced before the transaction that records the files (`fleet_xml.path`) commits.
A crash in between leaves files no row names; the package is read again and writes them again.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from sqlalchemy import Connection, Engine, select
from sqlalchemy.dialects.postgresql import insert

from satdescarga.errors import ConfigurationError
from satdescarga.fleet.schema import FLEET_ID, XML_DIR, fleet_settings
from satdescarga.packages.export.base import AtomicFile, fsync_dir
from satdescarga.packages.metadata.record import UUID_PATTERN

MARKER = ".satdescarga-flota"


class XmlDirError(ConfigurationError):
    """The shared XML directory is missing, not this fleet's, or not writable."""


class SharedXmlDir:
    """The fleet's XML directory, as mounted on this machine."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def __repr__(self) -> str:
        return f"SharedXmlDir({str(self.root)!r})"

    @classmethod
    def prepare(cls, root: Path, fleet_id: str) -> SharedXmlDir:
        """Create the directory and its marker (`fleet init`); a folder already marked by
        another fleet is refused."""
        try:
            root.mkdir(parents=True, exist_ok=True)
            marker = root / MARKER
            if not marker.exists():
                _durable_write(marker, fleet_id.encode("ascii"))
                fsync_dir(root)
        except OSError as exc:
            raise XmlDirError(
                f"no se pudo preparar el directorio de XML {root}: {exc.strerror or exc}"
            ) from None
        return cls.open(root, fleet_id)

    @classmethod
    def open(cls, root: Path, fleet_id: str) -> SharedXmlDir:
        """The directory, once its marker proves it is this fleet's and it takes files."""
        marker = root / MARKER
        try:
            found = marker.read_text("ascii").strip()
        except (OSError, UnicodeDecodeError):
            raise XmlDirError(
                f"{root} no es el directorio de XML de esta flota (falta {MARKER}): "
                "¿está montado en esta máquina? ('fleet init --xml-dir' lo prepara)"
            ) from None
        if found != fleet_id:
            raise XmlDirError(f"{root} es el directorio de XML de otra flota ({MARKER})")
        if not os.access(root, os.W_OK | os.X_OK):
            raise XmlDirError(f"no se puede escribir en el directorio de XML {root}")
        return cls(root)

    @staticmethod
    def relative(rfc: str, direction: str, issued: datetime | None, uuid: str) -> str:
        """Where a CFDI goes, relative to the root (its UUID checked: nothing else names it)."""
        if not UUID_PATTERN.fullmatch(uuid):
            raise ValueError(f"UUID inválido para un nombre de archivo: {uuid!r}")
        when = f"{issued:%Y}/{issued:%m}" if issued else "sin-fecha"
        return f"{rfc}/{direction}/{when}/{uuid}.xml"

    def write(self, relative: str, xml: bytes) -> Path:
        """Write one XML durably (its folder is fsynced by `sync_folders`)."""
        target = self.root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        _durable_write(target, xml)
        return target

    def sync_folders(self, written: list[Path]) -> None:
        """fsync the folders of `written` (their renames), before the rows naming them."""
        for folder in {path.parent for path in written}:
            fsync_dir(folder)

    def read(self, relative: str) -> bytes:
        return (self.root / relative).read_bytes()


def _durable_write(target: Path, data: bytes) -> None:
    out = AtomicFile(target)
    try:
        out.raw.write(data)
    except BaseException:
        out.discard()
        raise
    out.commit(durable=True)


def configure(connection: Connection, root: Path) -> SharedXmlDir:
    """Make `root` the fleet's XML directory (`fleet init --xml-dir`, in its transaction):
    created and marked with the fleet's id. XML already in PostgreSQL stays there."""
    fleet_id = connection.execute(
        select(fleet_settings.c.value).where(fleet_settings.c.name == FLEET_ID)
    ).scalar_one()
    folder = SharedXmlDir.prepare(root, fleet_id)
    value = str(root.resolve())
    connection.execute(
        insert(fleet_settings)
        .values(name=XML_DIR, value=value)
        .on_conflict_do_update(index_elements=["name"], set_={"value": value})
    )
    return folder


def shared_xml_dir(engine: Engine, here: Path | None = None) -> SharedXmlDir | None:
    """The fleet's XML directory as mounted on this machine (`here`: where, if not where
    `fleet init` saw it); None when the fleet keeps XML in PostgreSQL."""
    with engine.connect() as db:
        rows = dict(db.execute(select(fleet_settings.c.name, fleet_settings.c.value)).all())
    configured = rows.get(XML_DIR)
    if configured is None:
        if here is not None:
            raise XmlDirError(
                "esta flota guarda el XML en PostgreSQL: --xml-dir aplica solo después de "
                "'fleet init --xml-dir'"
            )
        return None
    return SharedXmlDir.open(here or Path(configured), rows[FLEET_ID])
