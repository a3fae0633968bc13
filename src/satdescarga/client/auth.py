"""Authentication as a step taken before a call, never from inside one.

`TokenCache` holds one service family's token (renewed 30 s before it expires), calls the
`on_token` hook after every authentication, and checks the e.firma once, before the first
Autentica. SatClient asks it for the token first and hands the value to the transport as data,
so no request ever authenticates from within another request: a plain lock guards the cache.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

from satdescarga import generated as g
from satdescarga.client import translate
from satdescarga.client.policy import checked
from satdescarga.client.results import Token
from satdescarga.fiel import Signer

log = logging.getLogger("satdescarga.client")


class TokenCache:
    """The token of one service family, obtained through the generated Autentica stub.

    `retry` runs one authentication with the client's retry policy."""

    def __init__(
        self,
        stub: g.AutenticacionStub,
        fiel: Signer,
        clock: Callable[[], datetime],
        retry: Callable[[Callable[[], Token]], Token],
        service: str,
        on_token: Callable[[Token], None] | None = None,
    ) -> None:
        self._stub = stub
        self._fiel = fiel
        self._clock = clock
        self._retry = retry
        self._service = service
        self._lock = threading.Lock()
        self._token: Token | None = None
        self._checked = False
        self._on_token = on_token

    def get(self, force: bool = False) -> Token:
        """The cached token while usable (and not `force`), else a new one from Autentica."""
        with self._lock:
            if not force and self._token is not None and self._token.usable(self._clock()):
                return self._token
            if not self._checked:
                self._fiel.check()  # the real now: the certificate must be valid today
                self._checked = True
            token = self._token = self._retry(self._authenticate)
        log.info("autenticado en %s; el token vence %s", self._service, token.expires)
        if self._on_token is not None:
            self._on_token(token)
        return token

    def _authenticate(self) -> Token:
        output = checked(g.AUTENTICA.name, self._stub.autentica_output)
        return translate.token(output, self._clock())
