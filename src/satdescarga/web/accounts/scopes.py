"""Roles and RFC lists as people type them, checked; and the scope they give."""

from __future__ import annotations

from collections.abc import Iterable

from satdescarga.readmodel import Scope
from satdescarga.rfc import normalize_rfc, rfc_problem
from satdescarga.web.accounts.errors import AccountError
from satdescarga.web.principal import Role


def parse_role(text: str) -> Role:
    try:
        return Role(text.strip().lower())
    except ValueError:
        raise AccountError(f"rol desconocido {text!r}: use admin, operator o viewer") from None


def check_rfcs(rfcs: Iterable[str]) -> tuple[str, ...]:
    """The RFCs normalized, sorted, without repeats; `AccountError` naming a wrong one."""
    found: set[str] = set()
    for given in rfcs:
        problem = rfc_problem(given)
        if problem is not None:
            raise AccountError(f"el RFC {given.strip()!r} no es válido: {problem}")
        found.add(normalize_rfc(given))
    return tuple(sorted(found))


def scope_of(rfcs: Iterable[str]) -> Scope:
    listed = tuple(rfcs)
    return Scope.only(listed) if listed else Scope.everything()
