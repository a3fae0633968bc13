"""`satdescarga doctor` without the command line: why SAT would refuse an e.firma, found before
SAT is asked (`fiel_checks`: FIEL or CSD, validity, issuer, password, key) and, online
(`online`), each endpoint's reachability, one Autentica, one signed Verifica and the clock's
distance from SAT's.

Every check that exists elsewhere is called, not repeated: the CSD rule and the validity rule
are `SatCertificate`'s, the expiry warning is `sync.notify`'s, loading is `fiel`'s, and the
Autentica is `SatClient`'s. Each finding says what it means and what to do, in Spanish.
"""

from satdescarga.diagnosis.findings import Area, Finding, Verdict

__all__ = ["Area", "Finding", "Verdict"]
