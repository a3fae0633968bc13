"""`satdescarga serve` as people start it: a real process on loopback, over a folder (the
one-time link it prints) and over a fleet; and each mistake in one sentence with exit 2."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from click.testing import CliRunner

from satdescarga.cli import main
from satdescarga.drills.throwaway import ThrowawayPostgres

from ..fleet.conftest import EKU
from .conftest import PASSWORD, WebFleet


def serve_error(*args: str) -> str:
    result = CliRunner().invoke(main, ["serve", *args, "--json"], env={"SATDESCARGA_DB": None})
    assert result.exit_code == 2, result.output
    event = json.loads(result.stdout.strip().splitlines()[-1])
    assert event["event"] == "error" and event["exit_code"] == 2
    return str(event["message"])


def test_a_source_is_required_and_only_one(synced_folder: Path) -> None:
    assert "indique una fuente" in serve_error()
    assert "indique una fuente" in serve_error("--out", str(synced_folder), "--db", "x")


def test_a_folder_is_served_on_this_computer_only(synced_folder: Path) -> None:
    message = serve_error("--out", str(synced_folder), "--host", "0.0.0.0")
    assert "solo se escucha en este equipo" in message


def test_a_port_in_use_is_one_sentence(synced_folder: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        message = serve_error("--out", str(synced_folder), "--port", str(port))
    assert f"127.0.0.1:{port}" in message and "--port" in message


def test_a_fleet_database_without_init_is_refused(postgres: ThrowawayPostgres) -> None:
    message = serve_error("--db", postgres.url)
    assert "fleet init" in message


@contextmanager
def running(*args: str) -> Iterator[tuple[subprocess.Popen[str], dict[str, str]]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "satdescarga", "serve", *args, "--port", "0", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line, process.stderr.read() if process.stderr else ""
        yield process, json.loads(line)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)


def test_a_folder_is_entered_once_by_its_link(synced_folder: Path) -> None:
    with running("--out", str(synced_folder)) as (process, event):
        assert event["event"] == "serving" and event["source"] == "folder"
        link = event["login_url"]
        assert link.startswith(event["url"] + "/login/enlace?t=")
        with httpx.Client(base_url=event["url"]) as browser:
            assert browser.get("/").status_code == 303  # no session yet
            entered = browser.get(link)
            assert entered.status_code == 303 and entered.headers["location"] == "/"
            page = browser.get("/")
            assert page.status_code == 200 and EKU in page.text
        with httpx.Client(base_url=event["url"]) as stranger:
            again = stranger.get(link)  # spent: a copy of the link opens nothing
            assert again.status_code in (303, 403) and stranger.get("/").status_code == 303
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
        assert process.stderr is not None
        assert link.split("t=")[1] not in process.stderr.read()


def test_a_fleet_is_served_to_its_people(web_fleet: WebFleet) -> None:
    with running("--db", web_fleet.url) as (process, event):
        assert event["source"] == "fleet" and "login_url" not in event
        with httpx.Client(base_url=event["url"]) as browser:
            login = browser.post("/login", data={"username": "viewer", "password": PASSWORD})
            assert login.status_code == 303
            assert EKU in browser.get("/").text
            token = {"Authorization": f"Bearer {web_fleet.tokens['viewer']}"}
            answer = browser.get("/api/v1/taxpayers", headers=token)
            assert answer.status_code == 200
            assert EKU in {item["rfc"] for item in answer.json()["items"]}
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
