"""Fixed data the synthetic corpus draws from: counterparts, employees, third parties, PACs.

Names are written as taxpayers really write them: accents, commas, quotes, an ampersand, an
apostrophe, and one with a line break (SAT copies it raw into the metadata, a known quirk).
"""

from __future__ import annotations

# (RFC, name). Persons with a 4-letter RFC are individuals (personas físicas).
COUNTERPARTS: tuple[tuple[str, str], ...] = (
    ("AAA010101AAA", "EMPRESA PATITO, S.A. DE C.V."),
    ("COSC8001137NA", "CARLOS CORTÉS SOTO"),
    ("DIS990315KJ4", 'DISTRIBUIDORA "LA PAZ", S.A. DE C.V.'),
    ("PAP070812QW8", "PAPELERÍA Y\nMERCERÍA LÓPEZ, S.C."),
    ("NUÑE850101AB2", "EULALIA NÚÑEZ ESPAÑA"),
    ("S&C0103055Y7", "SERVICIOS & CONSULTORÍA DEL NORTE, S.C."),
    ("GOMA7703256R1", "ANA MARÍA GÓMEZ O'HIGGINS"),
    ("TRA120229RT6", "TRANSPORTES ÁGUILA DEL BAJÍO, S.A.P.I. DE C.V."),
    ("CAM0506158J9", "CAFÉ & MÁS, S. DE R.L. DE C.V."),
    ("HEGJ9001014X2", "JOSÉ HERNÁNDEZ GARCÍA"),
    ("XAXX010101000", "PUBLICO EN GENERAL"),
    ("IAL091201BN5", "INMOBILIARIA ALTAVISTA, S.A. DE C.V."),
)

EMPLOYEES: tuple[tuple[str, str, str], ...] = (
    # (RFC, name, CURP)
    ("PEGL900215MN1", "LUCÍA PÉREZ GONZÁLEZ", "PEGL900215MDFRNC09"),
    ("RAMJ850730H52", "JUAN RAMÍREZ MUÑOZ", "RAMJ850730HJCMXN04"),
    ("OEZA921111KT7", "ÁNGEL OÑATE ZÚÑIGA", "OEZA921111HNLXXN01"),
    ("DIAS881203UJ8", "SOFÍA DÍAZ ÁLVAREZ", "DIAS881203MMCZLF02"),
)

THIRD_PARTIES: tuple[tuple[str, str], ...] = (
    ("XXX01010199A", "PERSONA FÍSICA UNO"),
    ("AAAA010101AA1", "MARÍA JOSÉ PÉREZ, ARRENDADORA"),
    ("VAAE731021EF4", 'ERNESTO VÁZQUEZ "EL GÜERO" AGUIRRE'),
)

PACS: tuple[str, ...] = (
    "SNF171020F3A",
    "SPR190613I52",
    "LSO1306189R5",
    "SAT970701NN3",
    "CVD110412TF6",
)

CONCEPTS: tuple[tuple[str, str, str], ...] = (
    # (ClaveProdServ, ClaveUnidad, Descripcion)
    ("43211503", "H87", "Computadora portátil, 16 GB"),
    ("80111600", "E48", "Servicios de personal temporal"),
    ("78101802", "E48", "Flete terrestre Querétaro – Monterrey"),
    ("50202306", "H87", 'Refresco "de cola" 600 ml'),
    ("81112101", "E48", "Licencia anual de software, soporte incluido"),
    ("72151603", "E48", "Mantenimiento de sistemas de aire acondicionado"),
)

RETENTION_COMPLEMENTS: tuple[str | None, ...] = (
    "intereses",
    "dividendos",
    "enajenaciondeacciones",
    "pagosaextranjeros",
    "serviciosplataformastecnologicas10",
    "arrendamientoenfideicomiso",
    None,
    None,
)
"""Complement drawn for a Retenciones document (None: none)."""

# Retenciones 2.0 CveRetenc matching each complement.
RETENTION_KEYS: dict[str | None, str] = {
    "intereses": "16",
    "dividendos": "14",
    "enajenaciondeacciones": "06",
    "pagosaextranjeros": "18",
    "serviciosplataformastecnologicas10": "26",
    "arrendamientoenfideicomiso": "03",
    None: "25",
}
