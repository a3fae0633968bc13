"""`satdescarga emulator serve` as a real process, the pytest fixture, and what logs show."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
import requests

from satdescarga import generated as g
from satdescarga.emulator import Emulator

from .conftest import PASSWORD, SatCaller, autentica_envelope, eku_fiel, local_now


def test_serve_on_a_free_port_with_a_port_file(tmp_path: Path) -> None:
    port_file = tmp_path / "port"
    command = [
        sys.executable,
        "-c",
        "from satdescarga.cli import main; main()",
        "emulator",
        "serve",
        "--port",
        "0",
        "--port-file",
        str(port_file),
        "--signature-check",
        "strict",
        "--accept-delay",
        "0",
        "--process-delay",
        "0",
        "--faults",
        "verifica=http503*1",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        while not port_file.exists() and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.05)
        port = int(port_file.read_text())
        assert port > 0
        base = f"http://127.0.0.1:{port}"
        stats = requests.get(f"{base}/__admin/stats", timeout=10).json()
        assert stats["faults"][0]["spec"] == "verifica=http503*1"
        token = requests.post(
            f"{base}/retenciones/Autenticacion/Autenticacion.svc",
            data=autentica_envelope(eku_fiel()),
            headers={"Content-Type": "text/xml", "SOAPAction": g.AUTENTICA.soap_action},
            timeout=10,
        )
        assert token.status_code == 200 and b"AutenticaResult>eyJ" in token.content
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=20)
    assert process.returncode == 0, output
    assert f"http://127.0.0.1:{port}/retenciones/DescargaMasivaService.svc" in output
    assert "Deteniendo" in output


def test_bad_options_are_refused() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from satdescarga.cli import main; main()",
            "emulator",
            "serve",
            "--faults",
            "nope",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "nope" in done.stderr


@pytest.mark.sat_emulator(xml_cap=3, signature_check="strict")
def test_the_pytest_fixture(sat_emulator: Emulator) -> None:
    assert sat_emulator.config.xml_cap == 3
    assert sat_emulator.config.signature_check == "strict"
    assert sat_emulator.config.accept_delay == 0 and sat_emulator.base_url.startswith(
        "http://127.0.0.1:"
    )
    caller = SatCaller(sat_emulator)
    now = local_now(sat_emulator)
    result = caller.emitidos(
        tipo_solicitud=g.TipoDescargaMasivaTerceros.CFDI,
        fecha_inicial=now - timedelta(days=5),
        fecha_final=now,
    )
    assert caller.verifica(result.id_solicitud).codigo_estado_solicitud == "5003"  # type: ignore[arg-type]


def test_the_fixture_is_registered_through_the_entry_point(pytestconfig: pytest.Config) -> None:
    plugin = pytestconfig.pluginmanager.get_plugin("satdescarga")
    assert plugin is not None and plugin.__name__ == "satdescarga.emulator.pytest_plugin"


def test_logs_never_hold_a_secret_in_full(caplog: pytest.LogCaptureFixture) -> None:
    secret = b"an emulator secret that must stay hidden"
    caplog.set_level(logging.DEBUG)
    with Emulator(secret=secret, accept_delay=0, process_delay=0) as sat:
        caller = SatCaller(sat)
        token = caller.autentica()
        now = local_now(sat)
        result = caller.emitidos(fecha_inicial=now - timedelta(days=1), fecha_final=now)
        caller.download_all(result.id_solicitud)  # type: ignore[arg-type]
        bad = caller.send(
            g.VERIFICA_SOLICITUD_DESCARGA,
            g.VerificaSolicitudDescarga(
                solicitud=g.VerificaSolicitudDescargaMasivaTercero(
                    id_solicitud="x", rfc_solicitante=caller.fiel.rfc
                )
            ),
            token=token + "tampered",
        )
        assert bad.status == 200
        sat.advance(minutes=10)
        caller.descargar(f"{result.id_solicitud}_01")  # expired token, logged redacted
    text = caplog.text
    assert "Autentica rfc=EKU9003173C9" in text and "token rechazado" in text
    jwt_signature = token.split(".")[2].split("%26")[0]
    for hidden in (
        token,
        token.split("%26")[0],
        jwt_signature,
        secret.decode(),
        secret.hex(),
        PASSWORD,
    ):
        assert hidden not in text
    assert token[:6] in text  # only a prefix and the length


SERVE = [sys.executable, "-c", "from satdescarga.cli import main; main()", "emulator", "serve"]


def test_serve_json_and_debug() -> None:
    process = subprocess.Popen(
        [*SERVE, "--port", "0", "--json", "--debug"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        started = json.loads(process.stdout.readline())
        assert started["event"] == "listening" and started["port"] > 0
        assert started["base_url"] == f"http://127.0.0.1:{started['port']}"
        assert started["urls"]["retenciones"]["descarga"] == (
            f"{started['base_url']}/retenciones/DescargaMasivaService.svc"
        )
        assert requests.get(started["admin"], timeout=10).status_code == 200
        busy = started["port"]
        refused = subprocess.run(
            [*SERVE, "--port", str(busy)], capture_output=True, text=True, timeout=60
        )
        assert refused.returncode == 1
        (line,) = refused.stderr.splitlines()
        assert (
            line.startswith(f"Error: no se pudo escuchar en 127.0.0.1:{busy}")
            and "--port 0" in line
        )
        detailed = subprocess.run(
            [*SERVE, "--port", str(busy), "--debug"], capture_output=True, text=True, timeout=60
        )
        assert detailed.returncode == 1 and "Traceback (most recent call last)" in detailed.stderr
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=20)
    assert process.returncode == 0
    assert json.loads(output.splitlines()[-1]) == {"event": "stopped"}
