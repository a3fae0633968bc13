"""SAT's contract as shipped in the package (WSDL/XSD files) and validation against it."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import xmlschema
from lxml import etree

from satdescarga.errors import SatError

CONTRACT_DIR = Path(__file__).resolve().parent / "wsdl"


class ContractError(SatError, ValueError):
    """An XML document does not conform to the contract's XSDs."""

    def __init__(self, element: str, problems: list[str]) -> None:
        self.problems = tuple(problems)
        super().__init__(f"{element} does not conform to the SAT contract: " + "; ".join(problems))


def wsdl_path(wsdl_file: str) -> Path:
    """Path of a WSDL of the contract, e.g. wsdl_path(SOLICITA_DESCARGA_SERVICE.wsdl)."""
    path = CONTRACT_DIR / wsdl_file
    if not path.is_file():
        raise FileNotFoundError(f"the contract has no {wsdl_file}")
    return path


@functools.cache
def schemas() -> dict[str, xmlschema.XMLSchema]:
    """One xmlschema schema per target namespace, built from every XSD of the contract."""
    by_namespace: dict[str, list[Any]] = {}
    for xsd in sorted((CONTRACT_DIR / "xsd").glob("*.xsd")):
        tns = (
            etree.parse(str(xsd), etree.XMLParser(no_network=True)).getroot().get("targetNamespace")
        )
        by_namespace.setdefault(tns or "", []).append(str(xsd))
    return {tns: xmlschema.XMLSchema(files) for tns, files in by_namespace.items()}


def problems(element: etree._Element) -> list[str]:
    """Every way `element` breaks its namespace's schema, as readable sentences."""
    tns = etree.QName(element).namespace or ""
    schema = schemas().get(tns)
    if schema is None:
        return [f"no schema in the contract for namespace {tns!r}"]
    found = []
    for error in schema.iter_errors(element):
        where = error.path or "/"
        found.append(f"{where}: {error.reason or error.message}")
    return found


def validate(element: etree._Element) -> None:
    """Raise ContractError listing every problem of `element`; return quietly if it conforms."""
    found = problems(element)
    if found:
        raise ContractError(etree.QName(element).localname, found)
