"""Hand-made bad input that once answered 500 (each of these did): unbounded integers in paths
and bodies, online keys above 64 bits or of the wrong arity, a commit of a Delta version that does
not exist, a naive time, a non-finite tag value, a query nested too deep. Each is a 4xx that names
the value, and the connection stays usable for the next request."""

from __future__ import annotations

from datetime import datetime, timezone

import pandas as pd

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
HUGE = 2**70


def test_the_inputs_that_answered_500_are_4xx(cast):
    alice = cast.user("alice")
    p = cast.project(alice)
    with alice.connection(p) as conn:
        fs = conn.get_feature_store()
        fg = fs.create_feature_group("g", primary_key=["id"], event_time="t", online_enabled=True)
        fg.insert(pd.DataFrame({"id": [1], "t": [T0], "v": [1.0]}))
        fs.create_feature_view("v", fg.select_all())
    group = f"/projects/{p}/featuregroups/g"
    view = f"/projects/{p}/featureviews/v"
    deep = {"left": {"id": fg._id, "name": "g", "version": 1, "features": ["v"]}, "joins": []}
    node = deep
    for _ in range(12):
        child = {"left": {"id": fg._id, "name": "g", "version": 1, "features": ["v"]}, "joins": []}
        node["joins"].append({"query": child, "left_on": ["id"], "right_on": ["id"], "prefix": "p_"})
        node = child
    cases = [
        ("GET", f"{group}/{HUGE}", {}),
        ("GET", f"{view}/{HUGE}/trainingdatasets", {}),
        ("GET", f"{view}/1/trainingdatasets/{HUGE}", {}),
        ("GET", f"/projects/{p}/models/mm/versions/{HUGE}", {}),
        ("POST", f"{group}/1/commits", {"json": {"delta_version": HUGE}}),
        ("POST", f"{group}/1/commits", {"json": {"delta_version": 99}}),  # not in the Delta log
        ("POST", f"{group}/1/commits", {"json": {"delta_version": 0, "rows_inserted": HUGE}}),
        ("POST", f"{group}/1/online", {"json": {"keys": [[1, 2, 3]]}}),
        ("POST", f"{group}/1/online", {"json": {"keys": [[]]}}),
        ("POST", f"{view}/1/vectors", {"json": {"entries": [{"id": HUGE}]}}),
        ("POST", f"{view}/1/vectors", {"json": {"entries": [{"id": {"nested": 1}}]}}),
        ("POST", "/search", {"json": {"modified_after": "2020-01-01T00:00:00"}}),  # naive
        (
            "POST",
            "/namespaces/default/datasets/x/objects",
            {"json": {"key": "a", "size": HUGE}},
        ),
        ("POST", f"/projects/{p}/featureviews", {"json": {"name": "deep", "query": deep}}),
        (
            "POST",
            f"/projects/{p}/featureviews",
            {"json": {"name": "x", "query": {**deep, "joins": [], "left": {**deep["left"], "id": HUGE}}}},
        ),
        (
            "POST",
            f"/projects/{p}/models/mm/versions",
            {"data": '{"metrics": {"auc": 1e999}}', "headers": {"Content-Type": "application/json"}},
        ),
        ("POST", f"/projects/{p}/models/mm/versions", {"json": {"description": "nul \x00 inside"}}),
    ]
    for method, path, kwargs in cases:
        r = alice.api(method, path, **kwargs)
        assert 400 <= r.status_code < 500, (method, path, kwargs, r.status_code, r.text[:300])
        assert set(r.json()) == {"error_code", "message", "details"}, r.text[:300]
    # a key above 64 bits is a number no row has (it answered 500)
    r = alice.api("POST", f"{group}/1/online", json={"keys": [[HUGE], [1]]})
    assert r.status_code == 200 and [row and row["v"] for row in r.json()["rows"]] == [None, 1.0], r.text
    # a tag value of 1e999 (JSON can write it; no float holds it)
    weights = cast.tmp / "w.bin"
    weights.write_bytes(b"w")
    with alice.connection(p) as conn:
        v = conn.get_model_registry().python.create_model("mm").save(str(weights)).version
    r = alice.api(
        "PUT",
        f"/projects/{p}/models/mm/versions/{v}/tags/t",
        data='{"value": 1e999}',
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 400, r.text
    # the feature view listing still works for every member
    assert alice.api("GET", f"/projects/{p}/featureviews").status_code == 200


def test_an_unexpected_error_keeps_the_connection_open(tmp_path):
    """A route that raises answers the error body as a 500, and the client's next request on the
    same keep-alive connection is answered too (Starlette's own handler re-raised, and uvicorn then
    closed the connection)."""
    import http.client
    import socket
    import threading

    import uvicorn
    from fastapi import FastAPI

    from larder.server.app import CatchAllMiddleware

    app = FastAPI()

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("unexpected")

    @app.get("/ok")
    def ok() -> dict[str, bool]:
        return {"ok": True}

    app.add_middleware(CatchAllMiddleware)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="critical", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        threading.Event().wait(0.01)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/boom")
        first = conn.getresponse()
        assert first.status == 500 and b"internal_error" in first.read()
        conn.request("GET", "/ok")  # the same connection
        second = conn.getresponse()
        assert second.status == 200 and second.read() == b'{"ok":true}'
    finally:
        server.should_exit = True
        thread.join(10)
