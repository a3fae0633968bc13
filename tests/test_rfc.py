"""One RFC rule (satdescarga.rfc): its shape, the sentence naming what is wrong, the check
digit; the client, the emulator and the package reader all apply it."""

from __future__ import annotations

import re
from datetime import date

import pytest

from satdescarga.client import Query
from satdescarga.emulator.security.ca import FielIssueError, normalize_rfc
from satdescarga.packages.metadata.record import rfc_ok
from satdescarga.rfc import check_digit, check_digit_matches, is_rfc, rfc_problem
from satdescarga.vocabulary import ServiceFamily


def problems(counterpart: str) -> list[str]:
    query = Query(start=date(2025, 1, 1), end=date(2025, 1, 31), counterparts=counterpart)
    return query.validate(ServiceFamily.CFDI, today=date(2025, 6, 1))


SAT_TEST_RFCS = ["EKU9003173C9", "XIA190128J61", "KAHO641101B39", "IIA040805DZ4", "CACX7605101P8"]
GENERIC = ["XAXX010101000", "XEXX010101000"]
MALFORMED = [
    "",
    "EKU9003173C",
    "EKU9003173C9X",
    "12345678901234",
    "EK19003173C9",
    "EKU90031A3C9",
    "EKU9013173C9",
    "EKU9003003C9",
    "EKU9003173C_",
    "BBB020202BBB",
]


@pytest.mark.parametrize("rfc", SAT_TEST_RFCS + GENERIC + ["ace900319jt9", " Ñ&O120726RX3 "])
def test_real_and_generic_rfcs_have_the_shape_everywhere(rfc: str) -> None:
    assert is_rfc(rfc) and rfc_problem(rfc) is None and rfc_ok(rfc)
    assert normalize_rfc(rfc) == rfc.strip().upper()  # the emulator issues e.firmas for them
    assert problems(rfc) == []


@pytest.mark.parametrize("rfc", MALFORMED)
def test_a_malformed_rfc_is_refused_everywhere_with_its_reason(rfc: str) -> None:
    problem = rfc_problem(rfc)
    assert problem is not None and not is_rfc(rfc) and (not rfc or not rfc_ok(rfc))
    with pytest.raises(FielIssueError, match=re.escape(problem)):
        normalize_rfc(rfc)
    [said] = problems(rfc) if rfc else [f"x: {problem}"]
    assert said.endswith(problem)


def test_the_check_digit_is_sat_s_and_only_advisory() -> None:
    assert all(check_digit_matches(rfc) for rfc in SAT_TEST_RFCS + GENERIC)
    assert check_digit("EKU9003173C9") == "9" and check_digit("XAXX010101000") == "4"
    assert not check_digit_matches("ACE900319JT9")  # in use at SAT with a "wrong" digit
    assert is_rfc("ACE900319JT9")
