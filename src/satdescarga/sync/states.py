"""The ledger's states and the Spanish words users see for them (`status`, summaries, --json).

| ledger      | shown as      | meaning                                                        |
|-------------|---------------|----------------------------------------------------------------|
| windows                                                                                      |
| planned     | planeada      | no request yet (or the last one never reached SAT)              |
| requested   | solicitada    | SAT accepted a request for it; verifying or downloading         |
| split       | dividida      | replaced by its halves (over SAT's cap, or criteria used up)    |
| recovered   | recuperada    | its documents were lost; asked for again through new windows    |
| empty       | sin datos     | SAT has no documents in it                                      |
| done        | completa      | every package read                                             |
| failed      | fallida       | SAT refused it for good; the reason is kept                     |
| requests                                                                                     |
| sending     | enviando      | about to be sent (a crash here makes it uncertain)              |
| uncertain   | incierta      | may have reached SAT; counts against its limits                 |
| unsent      | no enviada    | surely never reached SAT                                        |
| pending     | en proceso    | accepted; SAT is preparing it                                   |
| finished    | terminada     | SAT finished it (packages named)                                |
| refused     | rechazada     | SAT refused the query (CodEstatus)                              |
| failed      | fallida       | SAT ended it in error or rejected it                            |
| expired     | vencida       | SAT's 72 hours passed                                           |
| stuck       | atorada       | no answer within the horizon; polled again by the next run      |
| packages                                                                                     |
| pending     | por descargar | named by SAT, not on disk yet                                   |
| downloaded  | descargado    | on disk, verified, not read yet                                 |
| read        | leído         | in the outputs                                                  |
| lost        | perdido       | SAT will not hand it out again (its window is recovered)        |
"""

from __future__ import annotations

WINDOW_STATES = {
    "planned": "planeada",
    "requested": "solicitada",
    "split": "dividida",
    "recovered": "recuperada",
    "empty": "sin datos",
    "done": "completa",
    "failed": "fallida",
}
REQUEST_OUTCOMES = {
    "sending": "enviando",
    "uncertain": "incierta",
    "unsent": "no enviada",
    "pending": "en proceso",
    "finished": "terminada",
    "refused": "rechazada",
    "failed": "fallida",
    "expired": "vencida",
    "stuck": "atorada",
}
PACKAGE_STATES = {
    "pending": "por descargar",
    "downloaded": "descargado",
    "read": "leído",
    "lost": "perdido",
}
ISSUE_KINDS = {
    "reparada": "filas reparadas",
    "omitida": "entradas omitidas",
    "duplicado": "duplicados",
    "error": "filas o documentos ilegibles",
}


def shown(labels: dict[str, str], state: str) -> str:
    """The Spanish word for a ledger state (the state itself if it has none)."""
    return labels.get(state, state)
