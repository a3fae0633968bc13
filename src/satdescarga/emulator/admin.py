"""The admin API (`/__admin/...`, loopback clients only), for tests and demos.

- `GET  /__admin/stats`: JSON with the emulated time, the faults in force and, per RFC, the
  requests received (criteria, state, packages with their download count and size), the
  tokens issued and the signatures rejected.
- `POST /__admin/reset`: forget every request, package, counter and fault; clock back to start.
- `POST /__admin/advance`: move the emulated clock forward; JSON or query string with `days`,
  `hours`, `minutes`, `seconds` (e.g. `?hours=72`).
- `GET /__admin/faults` lists the rules; `POST` replaces them (`{"spec": "..."}`, or
  `{"rules": [{...}]}`; `"append": true` adds instead); `DELETE` removes them all.
"""

from __future__ import annotations

import ipaddress
import json
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from satdescarga.emulator.faults import FaultRule, FaultSpecError, parse_faults
from satdescarga.emulator.responses import Response

if TYPE_CHECKING:
    from satdescarga.emulator.server import EmulatorApp

JSON = "application/json; charset=utf-8"


def is_loopback(address: object) -> bool:
    try:
        return ipaddress.ip_address(str(address).split("%")[0]).is_loopback
    except ValueError:
        return False


def _json(data: object, status: int = 200) -> Response:
    body = json.dumps(data, ensure_ascii=False, indent=2).encode("utf-8")
    return Response(status, body, content_type=JSON)


def _error(status: int, message: str) -> Response:
    return _json({"error": message}, status)


class Admin:
    def __init__(self, app: EmulatorApp) -> None:
        self.app = app

    def handle(self, method: str, path: str, query: str, body: bytes) -> Response:
        name = path.removeprefix("/__admin").strip("/")
        try:
            payload = json.loads(body) if body.strip() else {}
        except ValueError:
            return _error(400, "el cuerpo no es JSON")
        if not isinstance(payload, dict):
            return _error(400, "se espera un objeto JSON")
        params = {k: v[-1] for k, v in parse_qs(query).items()}
        try:
            if name == "stats" and method == "GET":
                return _json(self.app.stats())
            if name == "reset" and method == "POST":
                self.app.reset()
                return _json({"reset": True, "now": self.app.clock.now().isoformat()})
            if name == "advance" and method == "POST":
                delta = timedelta(
                    **{
                        unit: float(payload.get(unit, params.get(unit, 0)))
                        for unit in ("days", "hours", "minutes", "seconds")
                    }
                )
                return _json({"now": self.app.advance(delta).isoformat()})
            if name == "faults":
                return self._faults(method, payload)
        except (ValueError, TypeError, FaultSpecError) as exc:
            return _error(400, str(exc))
        if name in ("stats", "reset", "advance"):
            return _error(405, f"método {method} no permitido en /__admin/{name}")
        return _error(404, f"no existe /__admin/{name}")

    def _faults(self, method: str, payload: dict[str, Any]) -> Response:
        faults = self.app.faults
        if method == "POST":
            if "spec" in payload:
                rules = parse_faults(str(payload["spec"]))
            else:
                raw = payload.get("rules", [])
                if not isinstance(raw, list):
                    raise ValueError("rules debe ser una lista")
                rules = [FaultRule.from_json(item) for item in raw]
            faults.set(rules, append=bool(payload.get("append", False)))
        elif method == "DELETE":
            faults.clear()
        elif method != "GET":
            return _error(405, f"método {method} no permitido en /__admin/faults")
        return _json(
            {"rules": [rule.to_json() for rule in faults.rules()], "injected": faults.injected}
        )
