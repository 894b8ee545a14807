"""A live platform for the JVM connector's tests (java/): real servers, real data, expected values.

Run by the JUnit/ScalaTest fixture (``dev.larder.testing.TestPlatform``), never by pytest itself:

    .venv/bin/python tests/jvm_platform.py OUT_DIR

It starts, on ephemeral loopback ports,

- a ``larder server`` (SQLite, its own CA) with users alice (owner of a project), bob, carol, dave,
  erin and frank (members), each with an API key (file 0600);
- a second server whose certificate (from its own CA) names only ``other.example``: the wrong host
  for the hostname check, and its CA is the wrong CA for the main server;
- a ``moto_server`` (STS, Secrets Manager, SSM) holding erin's key as the Secrets Manager secret and
  frank's as the SSM parameter of two IAM roles, with credentials of those roles assumed;

then writes, with the Python client and its python engine, feature groups (weather: online, with an
event time; airports: online, no event time; flights: offline labels), two feature views, model
versions (one file over 8 MiB, saved in parts with BLAKE3) and one whose stored file was corrupted
afterwards, and the Python client's answers for the same calls the Java tests make (feature vectors,
reads, a point-in-time query, training data) as JSON. ``OUT_DIR/platform.json`` describes it all.

It prints ``READY <path of platform.json>`` and serves until its standard input closes (the JVM that
started it exited), then stops every server and removes what it wrote.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from aws_fixtures import ACCOUNT  # noqa: E402
from real_services import MOTO_SERVER, free_port  # noqa: E402

from conftest import LarderServer  # noqa: E402

SCOPES = ["project", "featurestore", "modelregistry", "dataset"]
UTC = dt.timezone.utc
T0 = dt.datetime(2024, 3, 1, tzinfo=UTC)


def hours(h: float) -> dt.datetime:
    return T0 + dt.timedelta(hours=h)


def ok(resp: Any, status: int) -> Any:
    if resp.status_code != status:
        raise RuntimeError(f"HTTP {resp.status_code}: {resp.text}")
    return resp.json() if resp.content else None


def jsonable(v: Any) -> Any:
    """Values as the Java tests compare them: timestamps as epoch microseconds (UTC)."""
    if isinstance(v, dt.datetime):
        v = v if v.tzinfo else v.replace(tzinfo=UTC)
        delta = v - dt.datetime(1970, 1, 1, tzinfo=UTC)
        return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, float) and v != v:
        return None
    if hasattr(v, "item"):
        return jsonable(v.item())
    return v


def rows_of(table: Any) -> dict[str, Any]:
    """A pyarrow table as {"columns": [...], "rows": [[...], ...]} with jsonable values."""
    cols = table.column_names
    return {"columns": cols, "rows": [[jsonable(r[c]) for c in cols] for r in table.to_pylist()]}


def start_moto(work: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    log = open(work / "moto.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [MOTO_SERVER, "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    import requests

    deadline = time.monotonic() + 30
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"moto_server exited:\n{(work / 'moto.log').read_text()}")
        try:
            if requests.get(url + "/moto-api/", timeout=1).status_code < 500:
                return proc, url
        except requests.ConnectionError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("moto_server did not start in 30 s")
        time.sleep(0.05)


def misnamed_server(home: Path) -> LarderServer:
    """A server whose certificate, from its own CA, names only other.example (as test_connection's)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    from larder.server.security.ca import CertificateAuthority

    server = LarderServer(home).init()
    tls = server.home / "tls"
    ca = CertificateAuthority.load(tls / "ca.pem", tls / "ca.key")
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "other.example")]))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("other.example")]), critical=False)
        .sign(ca.key, hashes.SHA256())
    )
    (tls / "server.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM) + ca.pem)
    (tls / "server.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return server.start()


def make_user(server: LarderServer, base: str, keys: Path) -> dict[str, str]:
    name = f"{base}-{uuid.uuid4().hex[:6]}"
    admin = server.admin_key
    role = "privileged" if base == "alice" else "user"  # alice creates standalone datasets
    body = {"username": name, "email": f"{name}@example.com", "role": role}
    ok(server.api("POST", "/users", admin, json=body), 201)
    created = ok(
        server.api("POST", "/apikeys", admin, json={"name": "k1", "scopes": SCOPES, "user": name}), 201
    )
    path = keys / f"{name}.key"
    path.write_text(created["key"] + "\n")
    path.chmod(0o600)
    return {"name": name, "key": created["key"], "key_file": str(path)}


def setup_aws(moto: str, users: dict[str, dict[str, str]]) -> dict[str, Any]:
    import boto3

    def client(service: str, **creds: Any) -> Any:
        return boto3.session.Session(region_name="eu-west-1", **creds).client(service, endpoint_url=moto)

    static = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    roles: dict[str, Any] = {}
    for label in ("secrets", "params", "nokey"):
        role = f"jvm-{label}-{uuid.uuid4().hex[:8]}"
        creds = client("sts", **static).assume_role(
            RoleArn=f"arn:aws:iam::{ACCOUNT}:role/{role}", RoleSessionName="larder-jvm-test"
        )["Credentials"]
        roles[label] = {
            "role": role,
            "access_key_id": creds["AccessKeyId"],
            "secret_access_key": creds["SecretAccessKey"],
            "session_token": creds["SessionToken"],
        }
    client("secretsmanager", **static).create_secret(
        Name=f"larder/role/{roles['secrets']['role']}",
        SecretString=json.dumps({"api-key": users["erin"]["key"], "note": "for the nightly job"}),
    )
    client("ssm", **static).put_parameter(
        Name=f"/larder/role/{roles['params']['role']}/type/api-key",
        Value=users["frank"]["key"],
        Type="SecureString",
    )
    return {"endpoint": moto, "region": "eu-west-1", "roles": roles}


def feature_data(conn: Any, out: Path) -> dict[str, Any]:
    """Feature groups, views and the Python client's answers, written into ``out``."""
    import pyarrow as pa

    fs = conn.get_feature_store()
    weather = fs.create_feature_group(
        "weather",
        version=1,
        primary_key=["origin"],
        event_time="time_hour",
        online_enabled=True,
        description="hourly weather at the origin airport",
    )
    origins = ["EWR", "JFK", "LGA", "SFO"]
    w_rows = []
    rng = random.Random(7)
    for i, o in enumerate(origins):
        for h in range(0, 48, 6):
            if o == "SFO" and h < 24:
                continue  # SFO's weather starts late: early flights from there find no earlier row
            w_rows.append(
                {
                    "origin": o,
                    "time_hour": hours(h),
                    "temp": None if (o == "LGA" and h == 12) else round(rng.uniform(-5, 30), 2),
                    "wind": rng.randint(0, 40),
                    "note": None if h == 30 else f'{o} at {h}h, "quoted" and ünïcode',
                }
            )
    weather.insert(pa.Table.from_pylist(w_rows))
    airports = fs.create_feature_group("airports", version=1, primary_key=["faa"], online_enabled=True)
    airports.insert(
        pa.Table.from_pylist(
            [
                {"faa": "EWR", "name": "Newark Liberty", "alt": 18, "lat": 40.69},
                {"faa": "JFK", "name": "John F Kennedy", "alt": 13, "lat": 40.64},
                {"faa": "LGA", "name": "La Guardia", "alt": 22, "lat": 40.78},
                {"faa": "SFO", "name": "San Francisco", "alt": 13, "lat": 37.62},
                {"faa": "ORD", "name": "Chicago O'Hare", "alt": 668, "lat": 41.98},
            ]
        )
    )
    flights = fs.create_feature_group("flights", version=1, primary_key=["flight_id"], event_time="time_hour")
    f_rows = []
    for fid in range(1, 61):
        origin = origins[fid % 4]
        # some flights exactly at a weather hour (a tie matches), some before any weather row
        h = (fid * 7) % 50 if fid % 5 else float((fid * 6) % 48)
        f_rows.append(
            {
                "flight_id": fid,
                "time_hour": hours(h),
                "origin": origin,
                "dest": ["ORD", "SFO", "JFK", "XXX"][fid % 4] if fid % 7 else "ORD",
                "dep_delay": float(rng.randint(-10, 120)),
                "delayed": fid % 3 == 0,
            }
        )
    flights.insert(pa.Table.from_pylist(f_rows))

    # serving view: rooted at the online weather group
    serving = fs.create_feature_view(
        "weather_serving",
        weather.select(["temp", "wind", "note"]).join(
            airports.select(["name", "alt"]), left_on=["origin"], right_on=["faa"], prefix="ap_"
        ),
        version=1,
    )
    entries = [{"origin": o} for o in origins]
    vectors = {
        "features": serving._serving_features if serving._serving_features else None,
        "single": {o: serving.get_feature_vector({"origin": o}) for o in origins},
        "batch": serving.get_feature_vectors(entries),
        "missing_allowed": serving.get_feature_vectors(
            [{"origin": "JFK"}, {"origin": "NOPE"}], allow_missing=True
        ),
        "passed": serving.get_feature_vector({"origin": "EWR"}, passed_features={"wind": 99}),
    }
    serving.init_serving()
    vectors["features"] = serving._serving_features

    # point in time: flights with the weather at the origin (max_age 12h) and the destination airport
    query = (
        flights.select_all()
        .join(weather.select(["temp", "wind"]), on=["origin"], max_age=dt.timedelta(hours=12))
        .join(airports.select(["alt"]), left_on=["dest"], right_on=["faa"], prefix="dest_")
    )
    delays = fs.create_feature_view("delays", query, version=1, labels=["delayed"])
    start, end = hours(6), hours(40)
    x, y = delays.training_data(start_time=start, end_time=end, dataframe_type="pyarrow")
    training = x
    for c in y.column_names:
        training = training.append_column(c, y[c])
    expected = {
        "weather_read": rows_of(weather.read(dataframe_type="pyarrow")),
        "airports_read": rows_of(airports.read(dataframe_type="pyarrow")),
        "flights_read": rows_of(flights.read(dataframe_type="pyarrow")),
        "pit_query": rows_of(delays.query.read(dataframe_type="pyarrow")),
        "pit_sql": delays.query.to_string(),
        "training": rows_of(training),
        "training_start_us": jsonable(start),
        "training_end_us": jsonable(end),
        "vectors": vectors,
    }
    (out / "expected.json").write_text(json.dumps(expected, indent=1, default=str))
    return {
        "expected": str(out / "expected.json"),
        "weather_table": f"{fs._dataset().uri}/{weather._location['path']}",
        "serving_view": "weather_serving",
        "pit_view": "delays",
    }


def model_data(conn: Any, work: Path) -> dict[str, Any]:
    """Two versions of a model (the second better), one of whose files is saved in parts, and a
    model whose stored file is corrupted after the save."""
    mr = conn.get_model_registry()
    src = work / "model-src"
    (src / "weights").mkdir(parents=True)
    rnd = random.Random(11)
    (src / "weights" / "big.bin").write_bytes(rnd.randbytes(9 * 1024 * 1024 + 12345))  # two 8 MiB parts
    (src / "model.json").write_text(json.dumps({"kind": "linear", "coef": [0.5, -1.25]}))
    (src / "empty.txt").write_bytes(b"")
    v1 = mr.python.create_model("fraud", metrics={"auc": 0.81, "loss": 0.4}, description="first").save(src)
    v2 = mr.python.create_model("fraud", metrics={"auc": 0.93, "loss": 0.3}, description="better").save(src)
    bad_src = work / "bad-src"
    bad_src.mkdir()
    (bad_src / "model.bin").write_bytes(rnd.randbytes(4096))
    bad = mr.python.create_model("broken", metrics={"auc": 0.5}).save(bad_src)
    ds = conn.get_namespace(mr._info()["namespace"]).get_dataset(mr._info()["dataset"])
    stored = ds / "broken" / str(bad.version) / "model.bin"
    local = Path(stored.uri.removeprefix("file://"))
    data = bytearray(local.read_bytes())
    data[100] ^= 0xFF  # same size, different bytes: only the checksum can tell
    local.write_bytes(bytes(data))
    files = {str(p.relative_to(src)): str(p) for p in src.rglob("*") if p.is_file()}
    return {
        "name": "fraud",
        "versions": [v1.version, v2.version],
        "best_version": v2.version,
        "source": str(src),
        "files": files,
        "corrupted": {"name": "broken", "version": bad.version},
    }


def main() -> None:
    out = Path(sys.argv[1]).resolve()
    out.mkdir(parents=True, exist_ok=True)
    work = out / "work"
    work.mkdir(exist_ok=True)
    keys = out / "keys"
    keys.mkdir(exist_ok=True)
    keys.chmod(0o700)
    procs: list[Any] = []
    servers: list[LarderServer] = []

    def cleanup(*_: Any) -> None:
        for s in servers:
            with contextlib.suppress(Exception):  # best effort at shutdown
                s.stop()
        for p in procs:
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(out, ignore_errors=True)

    signal.signal(signal.SIGTERM, lambda *a: (cleanup(), os._exit(0)))
    try:
        # the client below must not pick up the caller's environment
        for var in [v for v in os.environ if v.startswith(("LARDER_", "AWS_"))]:
            del os.environ[var]
        os.environ["HOME"] = str(work / "home")
        (work / "home").mkdir(exist_ok=True)
        main_server = LarderServer(out / "server").init().start()
        servers.append(main_server)
        other = misnamed_server(out / "misnamed")
        servers.append(other)
        moto_proc, moto = start_moto(work)
        procs.append(moto_proc)

        users = {
            n: make_user(main_server, n, keys) for n in ("alice", "bob", "carol", "dave", "erin", "frank")
        }
        project = f"jvm_{uuid.uuid4().hex[:6]}"
        alice = users["alice"]["key"]
        ok(main_server.api("POST", "/projects", alice, json={"name": project}), 201)
        for n in ("bob", "carol", "dave", "erin", "frank"):
            ok(
                main_server.api(
                    "PUT",
                    f"/projects/{project}/members/{users[n]['name']}",
                    alice,
                    json={"role": "data_scientist"},
                ),
                200,
            )
        other_project = f"jvm_other_{uuid.uuid4().hex[:6]}"
        from larder.client.rest import RestClient

        admin = RestClient(other.url, other.admin_key, verify=other.ca, hostname_verification=False)
        admin.post("/projects", {"name": other_project})
        admin.close()
        aws = setup_aws(moto, users)
        # an S3 object store (moto) with a namespace, and a project whose datasets live there
        ok(
            main_server.api(
                "POST",
                "/objectstores",
                main_server.admin_key,
                json={
                    "name": "moto",
                    "type": "s3",
                    "endpoint_url": moto,
                    "region": "us-east-1",
                    "access_key_id": "testing",
                    "secret_access_key": "testing",
                    "role_arn": f"arn:aws:iam::{ACCOUNT}:role/larder-store",
                },
            ),
            201,
        )
        ok(
            main_server.api(
                "POST",
                "/namespaces",
                main_server.admin_key,
                json={"name": "lake", "object_store": "moto", "bucket": "larder-jvm-lake"},
            ),
            201,
        )
        s3_project = f"jvm_s3_{uuid.uuid4().hex[:6]}"
        ok(main_server.api("POST", "/projects", alice, json={"name": s3_project, "namespace": "lake"}), 201)

        import larder

        port = int(main_server.url.rsplit(":", 1)[1])
        conn = larder.connection(
            host="127.0.0.1",
            port=port,
            project=project,
            trust_store_path=main_server.ca,
            api_key_value=alice,
            engine="python",
            cert_folder=str(work / "py-certs"),
        )
        fs_info = feature_data(conn, out)
        model_info = model_data(conn, work)
        conn.close()
        with larder.connection(
            host="127.0.0.1",
            port=port,
            project=s3_project,
            trust_store_path=main_server.ca,
            api_key_value=alice,
            engine="python",
            cert_folder=str(work / "py-certs"),
        ) as s3_conn:  # a model saved on S3: SHA-256 parts, checked by S3 itself on upload
            s3_model = s3_conn.get_model_registry().python.create_model("lake-model", metrics={"auc": 0.7})
            s3_model.save(model_info["source"])
        model_info["s3"] = {"project": s3_project, "name": "lake-model", "version": s3_model.version}

        platform = {
            "url": main_server.url,
            "host": "127.0.0.1",
            "port": port,
            "ca": main_server.ca,
            "home": str(main_server.home),
            "admin_key_file": str(main_server.admin_key_file),
            "project": project,
            "users": users,
            "misnamed": {
                "port": int(other.url.rsplit(":", 1)[1]),
                "ca": other.ca,
                "project": other_project,
                "admin_key_file": str(other.admin_key_file),
            },
            "aws": aws,
            "feature_store": fs_info,
            "model": model_info,
            "work": str(work),
            "python": sys.executable,
        }
        (out / "platform.json").write_text(json.dumps(platform, indent=1))
        print(f"READY {out / 'platform.json'}", flush=True)
        sys.stdin.read()  # until the JVM that started us goes away
    except BaseException as e:
        print(f"FAILED {type(e).__name__}: {e}", flush=True)
        import traceback

        traceback.print_exc()
        raise
    finally:
        cleanup()


if __name__ == "__main__":
    main()
