"""Fixtures of the web UI's browser tests (``tests/test_ui.py``): a real `larder server` with demo-like data, and Debian's
Chromium driven by Playwright.

- ``ui_site``: a server (its own home) where user ``alice`` owns project ``flights``, built with
  the Python connector the way ``examples/flights_demo.py`` builds it, on synthetic data (seconds,
  not the demo's minutes): feature groups ``weather``, ``planes``, ``airports`` (online) and
  ``flights`` (two commits: an insert, then an upsert that updates rows), a feature view
  ``flight_delays`` with a time-split training dataset, two versions of model ``flight_delay``
  with metrics, schema, input example, tags and lineage, and a dataset ``raw-files`` of indexed
  objects in folders. User ``bob`` owns project ``other`` and is no member of ``flights``.
- ``browser``: headless ``/usr/bin/chromium`` (``make sysdeps`` installs it) with the launch flags
  this machine needs; the server's certificate is trusted by its public key
  (``--ignore-certificate-errors-spki-list``), so TLS is checked, not switched off.
"""

from __future__ import annotations

import base64
import hashlib
import os
import pickle
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from conftest import LarderServer

CHROMIUM = os.environ.get("LARDER_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ROOT = Path(__file__).resolve().parents[1]
AXE = ROOT / "ui" / "node_modules" / "axe-core" / "axe.min.js"
USER_SCOPES = "project,featurestore,modelregistry,dataset"


@dataclass
class Site:
    """The running server, its users' API keys, and what the data holds."""

    server: LarderServer
    keys: dict[str, str]
    key_files: dict[str, Path]
    objects: list[str]

    @property
    def url(self) -> str:
        return self.server.url


def _frames(n_flights: int = 3000) -> dict[str, Any]:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(7)
    start = datetime(2013, 1, 1, tzinfo=timezone.utc)
    hours = pd.date_range(start, periods=24 * 60, freq="h", tz="UTC")
    origins = ["EWR", "JFK", "LGA"]
    weather = pd.DataFrame(
        {
            "origin": np.repeat(origins, len(hours)).astype(object),
            "time_hour": np.tile(hours, len(origins)),
            "temp": rng.normal(40, 15, len(hours) * 3).round(1),
            "humid": rng.uniform(20, 100, len(hours) * 3).round(1),
            "wind_speed": np.where(
                rng.random(len(hours) * 3) < 0.05, np.nan, rng.gamma(2, 5, len(hours) * 3)
            ),
            "precip": rng.exponential(0.02, len(hours) * 3).round(3),
        }
    )
    tails = [f"N{100 + i}UA" for i in range(60)]
    planes = pd.DataFrame(
        {
            "tailnum": np.array(tails, dtype=object),
            "built": rng.integers(1980, 2013, len(tails)),
            "type": rng.choice(["Fixed wing multi engine", "Fixed wing single engine"], len(tails)).astype(
                object
            ),
            "engines": rng.integers(1, 4, len(tails)),
            "seats": rng.integers(20, 400, len(tails)),
        }
    )
    dests = ["ATL", "ORD", "LAX", "BOS", "MIA", "SFO", "DEN", "SEA"]
    airports = pd.DataFrame(
        {
            "faa": np.array(dests, dtype=object),
            "name": np.array([f"{d} International" for d in dests], dtype=object),
            "lat": rng.uniform(25, 48, len(dests)).round(4),
            "lon": rng.uniform(-122, -71, len(dests)).round(4),
            "alt": rng.integers(0, 5400, len(dests)),
        }
    )
    times = hours[rng.integers(0, len(hours), n_flights)]
    flights = pd.DataFrame(
        {
            "flight_id": np.arange(n_flights, dtype="int64"),
            "time_hour": times,
            "origin": rng.choice(origins, n_flights).astype(object),
            "dest": rng.choice(dests, n_flights).astype(object),
            "carrier": rng.choice(["UA", "AA", "DL", "B6"], n_flights).astype(object),
            "tailnum": rng.choice(tails, n_flights).astype(object),
            "distance": rng.integers(100, 2600, n_flights),
            "delayed": (rng.random(n_flights) < 0.22).astype("int64"),
        }
    )
    return {"weather": weather, "planes": planes, "airports": airports, "flights": flights}


def build_flights(server: LarderServer, key: str, tmp: Path) -> None:
    """The demo's steps on synthetic data, through the real connector (as alice)."""
    from urllib.parse import urlsplit

    import larder
    from larder.model_registry import ModelSchema, Schema

    parts = urlsplit(server.url)
    data = _frames()
    conn = larder.connection(
        host=parts.hostname,
        port=parts.port,
        project="flights",
        trust_store_path=server.ca,
        api_key_value=key,
        cert_folder=str(tmp / "certs"),
    )
    try:
        fs = conn.get_feature_store()
        weather = fs.create_feature_group(
            "weather",
            primary_key=["origin"],
            event_time="time_hour",
            online_enabled=True,
            description="Hourly weather at the three NYC airports",
        )
        weather.insert(data["weather"])
        weather.update_feature_description("temp", "Air temperature, degrees F")
        planes = fs.create_feature_group(
            "planes", primary_key=["tailnum"], online_enabled=True, description="Aircraft facts (FAA)"
        )
        planes.insert(data["planes"])
        airports = fs.create_feature_group(
            "airports", primary_key=["faa"], online_enabled=True, description="US airports"
        )
        airports.insert(data["airports"])
        flights = fs.create_feature_group(
            "flights",
            primary_key=["flight_id"],
            event_time="time_hour",
            description="Departures from NYC; label: delayed > 15 min",
        )
        flights.insert(data["flights"])
        changed = data["flights"].head(400).copy()
        changed["distance"] = changed["distance"] + 1
        flights.insert(changed)  # an upsert: 400 rows updated, the second commit
        query = (
            flights.select_all()
            .join(weather.select_except(["origin", "time_hour"]), on=["origin"])
            .join(planes.select(["built", "type", "engines", "seats"]), on=["tailnum"], prefix="plane_")
            .join(airports.select(["alt", "lat", "lon"]), left_on=["dest"], right_on=["faa"], prefix="dest_")
        )
        fv = fs.create_feature_view(
            "flight_delays", query, labels=["delayed"], description="Departure delay > 15 min"
        )
        cut = datetime(2013, 2, 15, tzinfo=timezone.utc)
        td = fv.create_training_data(
            train_end=cut, test_start=cut, description="train Jan to mid-Feb, test after"
        )
        X_train, _, y_train, _ = fv.get_training_data(td)
        mr = conn.get_model_registry()
        for name, metrics in (
            ("gbt", {"roc_auc": 0.71, "accuracy": 0.79}),
            ("logreg", {"roc_auc": 0.66, "accuracy": 0.78}),
        ):
            folder = tmp / f"model-{name}"
            folder.mkdir()
            (folder / "model.pkl").write_bytes(pickle.dumps({"kind": name}))
            (folder / "README.txt").write_text(f"{name}: a stand-in model for the UI tests\n")
            model = mr.python.create_model(
                "flight_delay",
                metrics=metrics,
                description=f"{name}: departure delay > 15 min",
                input_example=X_train.head(2),
                model_schema=ModelSchema(Schema(X_train), Schema(y_train)),
                feature_view=fv,
                training_dataset_version=td,
            )
            model.save(str(folder))
            model.set_tag("stage", "candidate" if name == "logreg" else "production")
    finally:
        conn.close()


def build_files(server: LarderServer, key: str, tmp: Path) -> list[str]:
    """Dataset ``raw-files`` in namespace ``default`` with indexed objects in folders."""
    from urllib.parse import urlsplit

    import larder

    parts = urlsplit(server.url)
    conn = larder.connection(
        host=parts.hostname,
        port=parts.port,
        project="flights",
        trust_store_path=server.ca,
        api_key_value=key,
        cert_folder=str(tmp / "certs-files"),
    )
    keys = []
    try:
        ns = conn.get_namespace("default")
        ds = ns.create_dataset("raw-files", "Raw exports the flights project keeps")
        for month in ("01", "02"):
            for day in range(1, 4):
                key_ = f"exports/2013/{month}/day-{day:02d}.csv"
                (ds.root / key_).write_text(
                    "flight_id,delayed\n1,0\n", metadata={"source": "bts", "month": month}
                )
                keys.append(key_)
        (ds.root / "README.md").write_text("# Raw exports\n", metadata={"kind": "doc"})
        keys.append("README.md")
    finally:
        conn.close()
    return keys


@pytest.fixture(scope="session")
def ui_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("ui")
    server = LarderServer(tmp / "home").init().start()
    try:
        keys: dict[str, str] = {"admin": server.admin_key}
        files: dict[str, Path] = {"admin": server.admin_key_file}
        for user in ("alice", "bob"):
            server.create_user(user, "privileged" if user == "alice" else "user")  # alice keeps raw files
            keys[user], files[user] = server.create_key(user, USER_SCOPES, tmp, name=f"{user}-main")
        for user, project in (("alice", "flights"), ("bob", "other")):
            r = server.api(
                "POST", "/projects", keys[user], json={"name": project, "description": f"{user}'s project"}
            )
            assert r.status_code == 201, r.text
        build_flights(server, keys["alice"], tmp)
        objects = build_files(server, keys["alice"], tmp)
        yield Site(server, keys, files, objects)
    finally:
        server.stop()


def spki_hash(cert_pem: Path) -> str:
    """base64(sha256(SubjectPublicKeyInfo)) of a PEM certificate, for Chromium's SPKI allow-list."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    cert = x509.load_pem_x509_certificate(cert_pem.read_bytes())
    der = cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


@pytest.fixture(scope="session")
def browser(ui_site: Site) -> Iterator[Any]:
    if not Path(CHROMIUM).is_file():
        pytest.fail(
            f"{CHROMIUM} is missing: `make sysdeps` installs Debian's chromium (or set LARDER_CHROMIUM)."
        )
    from playwright.sync_api import sync_playwright

    spki = spki_hash(ui_site.server.home / "tls" / "server.pem")
    with sync_playwright() as p:  # each launch gets a fresh, temporary --user-data-dir
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[*CHROMIUM_FLAGS, f"--ignore-certificate-errors-spki-list={spki}"],
        )
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def screenshots() -> Path | None:
    """Where to save screenshots for the docs (``make docs`` sets LARDER_UI_SCREENSHOTS)."""
    target = os.environ.get("LARDER_UI_SCREENSHOTS")
    if not target:
        return None
    path = Path(target)
    path.mkdir(parents=True, exist_ok=True)
    return path
