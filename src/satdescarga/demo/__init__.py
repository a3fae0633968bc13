"""SAT's public test e.firma (RFC EKU9003173C9), shipped for `satdescarga demo`.

Not a secret: SAT publishes it for testing. It is only accepted by the emulator.
"""

from __future__ import annotations

from pathlib import Path

from satdescarga.fiel import Fiel

FIEL_DIR = Path(__file__).resolve().parent / "fiel"
CER = FIEL_DIR / "EKU9003173C9.cer"
KEY = FIEL_DIR / "EKU9003173C9.key"
PASSWORD_FILE = FIEL_DIR / "EKU9003173C9-password.txt"


def demo_fiel() -> Fiel:
    return Fiel.load(CER, KEY, PASSWORD_FILE.read_text(encoding="utf-8").strip())
