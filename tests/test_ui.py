"""The web UI in a real browser: Debian's Chromium, driven by Playwright, against a real server.

The site (``ui_fixtures.ui_site``) holds demo-like data of user alice (project ``flights``); user
bob owns project ``other``. The tests sign in, walk every page, check what each shows against the
data, run axe-core on each page, create and revoke an API key, follow a one-time login link (also
from ``larder ui`` on the embedded platform), and check that bob sees none of alice's pages, that
every form refuses a missing or foreign CSRF token, the cookie's flags, that no API key is ever in
a page or a URL, and that bad input gets a 400/404 page naming the value, never a 500.

``LARDER_UI_SCREENSHOTS=DIR`` (``make docs``) saves screenshots of the main pages there.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests
from ui_fixtures import AXE, Site, browser, screenshots, ui_site  # noqa: F401 - fixtures

from conftest import LARDER

pytestmark = pytest.mark.timeout(600)

FG = "/projects/flights/featuregroups"
FV = "/projects/flights/featureviews/flight_delays/1"
MODEL = "/projects/flights/models/flight_delay"
DATASET = "/namespaces/default/datasets/raw-files"

# every page of alice's data: (path, the <h1>, text the page must show)
PAGES = [
    ("/", "Projects", ["flights", "alice's project"]),
    (
        "/projects/flights",
        "Project flights",
        ["alice (owner)", "data_owner", "weather", "flight_delays", "flight_delay"],
    ),
    (f"{FG}/flights/1", "Feature group flights", ["flight_id", "primary key", "event time", "upsert", "400"]),
    (
        f"{FG}/weather/1",
        "Feature group weather",
        ["wind_speed", "online", "Null values per column", "Air temperature, degrees F"],
    ),
    (f"{FG}/planes/1", "Feature group planes", ["tailnum", "seats"]),
    (f"{FG}/airports/1", "Feature group airports", ["faa", "alt"]),
    (f"{FG}/flights/1/preview", "Preview of flights v1", ["flight_id", "as of Delta version 1"]),
    (FV, "Feature view flight_delays", ["ASOF LEFT JOIN", "delayed", "train: 2,218"]),
    (f"{FV}/trainingdatasets/1", "Training dataset v1", ["Split train", "Split test", "plane_seats"]),
    (MODEL, "Model flight_delay", ["roc_auc", "Best by roc_auc", "version 1"]),
    (
        f"{MODEL}/1",
        "Model flight_delay",
        ["Lineage", "flight_delays v1", "model.pkl", "production", "Input example"],
    ),
    ("/namespaces", "Namespaces", ["default"]),
    ("/namespaces/default", "Namespace default", ["raw-files", "flights_featurestore"]),
    (DATASET, "Dataset raw-files", ["exports/", "README.md", "Indexed objects", "Sync"]),
    (f"{DATASET}?prefix=exports/2013/01/", "Dataset raw-files", ["day-01.csv", "day-03.csv"]),
    (f"{DATASET}/object?key=README.md", "Object README.md", ["kind", "doc"]),
    ("/search?q=source%3Dbts%0Amonth%3D02", "Search objects by metadata", ["3 object(s)", "day-02.csv"]),
    ("/apikeys", "API keys", ["alice-main", "Signed-in browsers"]),
]
SCREENSHOTS = {
    "/projects/flights": "project",
    f"{FG}/weather/1": "feature-group",
    FV: "feature-view",
    MODEL: "model",
    f"{MODEL}/1": "model-version",
    f"{DATASET}?prefix=exports/2013/01/": "dataset",
    "/apikeys": "api-keys",
}


# --- helpers ----------------------------------------------------------------------------------------


def secrets_of(site: Site) -> list[str]:
    """Every API key of the site and its secret half (either would be a leak)."""
    out = []
    for key in site.keys.values():
        out += [key, key.split(".", 1)[1]]
    return out


class Browser:
    """One signed-in browser context, recording every document it loads and every console error."""

    def __init__(self, site: Site, context: Any) -> None:
        self.site = site
        self.context = context
        self.page = context.new_page()
        self.errors: list[str] = []
        self.documents: list[tuple[str, str]] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("response", self._record)

    def _record(self, response: Any) -> None:
        if response.request.resource_type == "document" or response.request.headers.get("hx-request"):
            try:
                self.documents.append((response.url, response.text()))
            except Exception:  # a redirect or download has no body to read
                self.documents.append((response.url, ""))

    def goto(self, path: str) -> Any:
        response = self.page.goto(self.site.url + path)
        self.page.wait_for_load_state("networkidle")
        return response

    def sign_in(self, user: str) -> None:
        self.goto("/")
        assert "/login" in self.page.url
        self.page.fill("#api_key", self.site.keys[user])
        self.page.click("form[action='/login'] button[type=submit]")
        self.page.wait_for_load_state("networkidle")
        assert self.page.url == self.site.url + "/", self.page.url
        assert f"Signed in as {user}" in self.page.inner_text("header")

    def axe(self) -> list[dict[str, Any]]:
        """axe-core's serious and critical violations on the current page (evaluated through the
        DevTools protocol, which the page's Content-Security-Policy does not restrict)."""
        if not self.page.evaluate("() => typeof axe !== 'undefined'"):
            self.page.evaluate(AXE.read_text())
        result = self.page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
        return [
            {"id": v["id"], "impact": v["impact"], "nodes": [n["html"][:120] for n in v["nodes"][:3]]}
            for v in result["violations"]
            if v["impact"] in ("serious", "critical")
        ]


@pytest.fixture
def open_browser(browser: Any, ui_site: Site) -> Iterator[Any]:  # noqa: F811
    contexts = []

    def make(user: str | None = None) -> Browser:
        context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
        contexts.append(context)
        b = Browser(ui_site, context)
        if user:
            b.sign_in(user)
        return b

    yield make
    for c in contexts:
        c.close()


def http(site: Site) -> requests.Session:
    s = requests.Session()
    s.trust_env = False
    s.verify = site.server.ca
    return s


def http_sign_in(site: Site, user: str) -> requests.Session:
    """A requests session signed in through the form, as a browser would (Origin and Fetch Metadata)."""
    s = http(site)
    page = s.get(site.url + "/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    r = s.post(
        site.url + "/login",
        data={"csrf_token": token, "api_key": site.keys[user], "next": "/"},
        headers={"Origin": site.url, "Sec-Fetch-Site": "same-origin"},
        allow_redirects=False,
    )
    assert r.status_code == 303, r.text
    return s


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


# --- the walk -----------------------------------------------------------------------------------------


def test_every_page_shows_the_data_passes_axe_and_leaks_no_key(open_browser, ui_site, screenshots):  # noqa: F811
    b = open_browser("alice")
    cookies = {c["name"]: c for c in b.context.cookies()}
    session = cookies["__Host-larder_session"]
    assert session["httpOnly"] and session["secure"] and session["sameSite"] == "Strict"
    assert session["path"] == "/" and "domain" in session and not session["domain"].startswith(".")
    problems: dict[str, Any] = {}
    for path, title, texts in PAGES:
        response = b.goto(path)
        assert response.status == 200, (path, response.status)
        assert response.headers["content-security-policy"].startswith("default-src 'none'")
        assert re.fullmatch(r"app;dur=\d+\.\d", response.headers["server-timing"])
        assert b.page.inner_text("h1").startswith(title), (path, b.page.inner_text("h1"))
        body = b.page.inner_text("main")
        for text in texts:
            assert text in body, (path, text)
        violations = b.axe()
        if violations:
            problems[path] = violations
        if screenshots and path in SCREENSHOTS:
            b.page.screenshot(path=str(screenshots / f"{SCREENSHOTS[path]}.png"), full_page=True)
    assert not problems, json.dumps(problems, indent=1)
    assert not b.errors, b.errors  # a blocked script or style (CSP) shows here
    leaked = [(url, s[:8]) for url, html in b.documents for s in secrets_of(ui_site) if s in html or s in url]
    assert not leaked and len(b.documents) >= len(PAGES)
    assert not [s for s in secrets_of(ui_site) if s in ui_site.server.log()]


def test_charts_are_drawn_by_chart_js_from_the_catalog(open_browser):
    b = open_browser("alice")
    b.goto(MODEL)
    chart = b.page.evaluate(
        "() => { const c = Chart.getChart(document.querySelector('canvas[data-chart=\"metric\"]'));"
        " return {type: c.config.type, labels: c.data.labels, data: c.data.datasets[0].data,"
        " styles: c.data.datasets[0].pointStyle}; }"
    )
    assert chart == {
        "type": "line",
        "labels": ["v1", "v2"],
        "data": [0.71, 0.66],
        "styles": ["star", "circle"],
    }
    b.page.select_option("#metric", "accuracy")
    b.page.select_option("#direction", "min")  # htmx swaps the section: the best is now v2
    b.page.wait_for_function(
        "() => document.querySelector('#metric-title').parentElement.innerText.includes('v2')"
    )
    b.page.wait_for_load_state("networkidle")
    assert "Best by accuracy: version 2" in b.page.inner_text("#metric-section")
    b.page.wait_for_function(
        "() => Chart.getChart(document.querySelector('canvas[data-chart]')) !== undefined"
    )
    data = b.page.evaluate(
        "() => Chart.getChart(document.querySelector('canvas[data-chart]')).data.datasets[0].data"
    )
    assert data == [0.79, 0.78] and "direction=min" in b.page.url

    b.goto(f"{FG}/weather/1")
    drawn = b.page.evaluate(
        "() => [...document.querySelectorAll('canvas[data-chart]')].map(c => [c.dataset.chart, !!Chart.getChart(c)])"
    )
    names = dict(drawn)
    assert names.pop("timeline") and names.pop("nulls")
    assert len(names) == 4 and all(names.values())  # a histogram of each of temp, humid, wind_speed, precip
    nulls = b.page.evaluate(
        "() => { const c = Chart.getChart(document.querySelector('canvas[data-chart=\"nulls\"]'));"
        " return Object.fromEntries(c.data.labels.map((l, i) => [l, c.data.datasets[0].data[i]])); }"
    )
    stats = json.loads(b.page.get_attribute("canvas[data-chart=nulls]", "data-spec"))
    assert nulls["wind_speed"] > 0 and nulls["temp"] == 0 and stats["labels"] == list(nulls)


def test_preview_as_of_an_older_commit_shows_the_older_rows(open_browser):
    b = open_browser("alice")
    b.goto(f"{FG}/flights/1")
    b.page.wait_for_selector("#preview table")  # loaded by htmx after the page

    def distance_of_flight_0() -> int:
        header = b.page.eval_on_selector_all("#preview thead th", "ths => ths.map(t => t.innerText)")
        for row in b.page.eval_on_selector_all(
            "#preview tbody tr", "trs => trs.map(tr => [...tr.cells].map(td => td.innerText))"
        ):
            if row[header.index("flight_id")] == "0":
                return int(row[header.index("distance")])
        raise AssertionError("flight 0 is not in the preview")

    b.goto(f"{FG}/flights/1/preview?rows=100&as_of=1")
    latest = distance_of_flight_0()
    b.page.select_option("#as-of", "0")
    b.page.wait_for_function("() => document.querySelector('#preview .help').innerText.includes('version 0')")
    assert distance_of_flight_0() == latest - 1  # the upsert (Delta version 1) added 1


def test_model_artifacts_download(open_browser):
    b = open_browser("alice")
    b.goto(f"{MODEL}/1")
    with b.page.expect_download() as info:
        b.page.click("a:text('model.pkl')")
    path = info.value.path()
    assert pickle.loads(Path(path).read_bytes()) == {"kind": "gbt"}  # noqa: S301 - our own test file


def test_dataset_pages_by_key(ui_site, open_browser):  # noqa: F811 - pytest fixtures
    r = ui_site.server.api(
        "POST", "/namespaces/default/datasets", ui_site.keys["alice"], json={"name": "many-files"}
    )
    assert r.status_code == 201, r.text
    keys = [f"part-{i:04d}.bin" for i in range(230)] + [f"logs/{i}.txt" for i in range(5)] + ["zz/last.txt"]
    with ui_site.server.session(ui_site.keys["alice"]) as s:
        for k in keys:
            r = s.put(
                f"{ui_site.url}/api/v1/namespaces/default/datasets/many-files/objects",
                json={"key": k, "size": 3, "etag": "x", "metadata": {}},
                timeout=30,
            )
            assert r.status_code == 200, r.text
    b = open_browser("alice")
    seen: list[str] = []
    b.goto("/namespaces/default/datasets/many-files?limit=100")
    pages = 0
    while True:
        pages += 1
        names = b.page.eval_on_selector_all(
            "section[aria-labelledby=files-title] tbody td:first-child a", "as => as.map(a => a.innerText)"
        )
        assert len(names) <= 100
        seen += names
        nxt = b.page.query_selector("a[rel=next]")
        if nxt is None:
            break
        nxt.click()
        b.page.wait_for_load_state("networkidle")
    expected = sorted([k for k in keys if "/" not in k] + ["logs/", "zz/"])
    assert pages == 3 and seen == expected  # every key once, in order, folders in place
    assert "236" in b.page.inner_text("main")  # the indexed-object count
    b.page.click("a:text('First page')")
    b.page.wait_for_load_state("networkidle")
    b.page.click("a:text('logs/')")
    b.page.wait_for_load_state("networkidle")
    assert sorted(
        b.page.eval_on_selector_all("tbody td:first-child a", "as => as.map(a => a.innerText)")
    ) == [f"{i}.txt" for i in range(5)]


# --- API keys, sessions, login links ------------------------------------------------------------------


def test_api_key_created_shown_once_copied_then_revoked(open_browser, ui_site):  # noqa: F811 - pytest fixtures
    b = open_browser("alice")
    b.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=ui_site.url)
    b.goto("/apikeys")
    b.page.fill("#key-name", "made-in-ui")
    b.page.uncheck("input[name=scopes][value=dataset]")
    b.page.click("form[action='/apikeys'] button[type=submit]")
    b.page.wait_for_load_state("networkidle")
    new_key = b.page.input_value("#new-key")
    assert re.fullmatch(r"[0-9a-f]{16}\.[A-Za-z0-9_-]{43}", new_key)
    b.page.click("button[data-copy=new-key]")
    b.page.wait_for_selector(".copied:text('Copied.')")
    assert b.page.evaluate("() => navigator.clipboard.readText()") == new_key
    me = ui_site.server.api("GET", "/users/me", new_key)
    assert me.status_code == 200 and me.json()["username"] == "alice"
    assert ui_site.server.api("GET", "/namespaces", new_key).status_code == 403  # no dataset scope
    b.goto("/apikeys")  # shown once: not on the next page, nor anywhere after
    assert new_key not in b.page.content() and new_key.split(".")[1] not in b.page.content()
    assert "made-in-ui" in b.page.inner_text("main")
    b.page.click("button[aria-label='Revoke key made-in-ui']")
    b.page.wait_for_load_state("networkidle")
    assert "Revoked API key 'made-in-ui'" in b.page.inner_text("main")
    assert ui_site.server.api("GET", "/users/me", new_key).status_code == 401
    pages = [html for url, html in b.documents if new_key in html]
    assert len(pages) == 1  # only the response to the create form


def test_sessions_end_on_logout_key_revocation_and_from_the_keys_page(ui_site, open_browser):  # noqa: F811 - pytest fixtures
    key, _ = ui_site.server.create_key(
        "alice", "project,featurestore", Path(ui_site.server.home), name="short-lived"
    )
    ui_site.keys["short"] = key  # also checked for leaks by the other tests
    s = http(ui_site)
    page = s.get(ui_site.url + "/login")
    r = s.post(
        ui_site.url + "/login",
        data={"csrf_token": csrf_of(page.text), "api_key": key},
        headers={"Origin": ui_site.url},
        allow_redirects=False,
    )
    assert r.status_code == 303
    assert s.get(ui_site.url + "/projects/flights").status_code == 200
    assert s.get(ui_site.url + "/namespaces", allow_redirects=False).status_code == 403  # the key's scopes
    # revoking the key from another browser ends the session at its next request
    other = open_browser("alice")
    other.goto("/apikeys")
    other.page.click("button[aria-label='Revoke key short-lived']")
    r = s.get(ui_site.url + "/projects/flights", allow_redirects=False)
    assert r.status_code == 303 and "reason=key_revoked" in r.headers["location"]
    # ending a session from the keys page, and logging out
    a = http_sign_in(ui_site, "alice")
    b = http_sign_in(ui_site, "alice")
    keys_page = a.get(ui_site.url + "/apikeys").text
    ids = re.findall(r'action="/sessions/(\d+)/revoke"', keys_page)
    assert len(ids) >= 2
    newest = ids[0]  # b signed in last: newest first
    r = a.post(
        f"{ui_site.url}/sessions/{newest}/revoke",
        data={"csrf_token": csrf_of(keys_page)},
        allow_redirects=False,
    )
    assert r.status_code == 303
    assert b.get(ui_site.url + "/", allow_redirects=False).status_code == 303
    cookie = a.cookies.get("__Host-larder_session")
    r = a.post(ui_site.url + "/logout", data={"csrf_token": csrf_of(keys_page)}, allow_redirects=False)
    assert r.status_code == 303 and "Max-Age=0" in r.headers["set-cookie"]
    replay = http(ui_site)
    replay.cookies.set("__Host-larder_session", cookie)
    r = replay.get(ui_site.url + "/", allow_redirects=False)
    assert r.status_code == 303 and "reason=ended" in r.headers["location"]


def test_login_link_signs_in_once(ui_site, open_browser):  # noqa: F811 - pytest fixtures
    r = ui_site.server.api("POST", "/ui/login-links", ui_site.keys["bob"])
    assert r.status_code == 201
    url = r.json()["url"]
    assert url.startswith(ui_site.url + "/login/link?token=")
    assert not any(s in url for s in secrets_of(ui_site))
    b = open_browser()
    b.page.goto(url)
    b.page.wait_for_url(ui_site.url + "/")
    assert "Signed in as bob" in b.page.inner_text("header")
    again = open_browser()
    response = again.page.goto(url)
    assert response.status == 401 and "already used" in again.page.inner_text("main")
    assert ui_site.server.api("POST", "/ui/login-links", None).status_code == 401


def test_larder_ui_and_ui_url_open_the_embedded_platform_signed_in(tmp_path, browser):  # noqa: F811
    env = {**os.environ, "LARDER_HOME": str(tmp_path / "embedded"), "HOME": str(tmp_path)}
    env.pop("LARDER_URL", None)
    env.pop("LARDER_API_KEY", None)
    try:
        out = subprocess.run(
            [LARDER, "ui", "--no-browser"], capture_output=True, text=True, env=env, timeout=120
        )
        assert out.returncode == 0, out.stderr
        url = out.stdout.strip()
        assert re.fullmatch(r"https://127\.0\.0\.1:\d+/login/link\?token=[A-Za-z0-9_-]{43}", url)
        code = "import larder; c = larder.connection(); print(c.ui_url()); c.close()"
        py = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
        )
        assert py.returncode == 0, py.stderr
        url2 = py.stdout.strip().splitlines()[-1]
        assert url2 != url and url2.split("?")[0] == url.split("?")[0]
        # the embedded server has its own CA: a fresh browser trusts its certificate's key
        from ui_fixtures import CHROMIUM, CHROMIUM_FLAGS, spki_hash

        spki = spki_hash(tmp_path / "embedded" / "tls" / "server.pem")
        chromium = browser.browser_type.launch(
            executable_path=CHROMIUM, args=[*CHROMIUM_FLAGS, f"--ignore-certificate-errors-spki-list={spki}"]
        )
        try:
            page = chromium.new_page()
            page.goto(url)
            page.wait_for_url(url.split("/login")[0] + "/")
            assert "Signed in as admin" in page.inner_text("header")  # the embedded key's user
            assert "default" in page.inner_text("main")
        finally:
            chromium.close()
    finally:
        subprocess.run([LARDER, "server", "stop", "--home", str(tmp_path / "embedded")], env=env, timeout=60)


# --- isolation, CSRF, bad input --------------------------------------------------------------------------

ALICE_ONLY = [
    "/projects/flights",
    f"{FG}/flights/1",
    f"{FG}/flights",
    f"{FG}/weather/1/preview",
    FV,
    f"{FV}/trainingdatasets/1",
    MODEL,
    f"{MODEL}/1",
    f"{MODEL}/1/files/model.pkl",
    DATASET,
    f"{DATASET}/object?key=README.md",
    "/namespaces/default/datasets/flights_featurestore",
    "/admin",
]


def test_a_user_of_another_project_sees_none_of_its_pages(open_browser):
    b = open_browser("bob")
    home = b.page.inner_text("main")
    assert "other" in home and "flights" not in home
    for path in ALICE_ONLY:
        response = b.goto(path)
        assert response.status in (403, 404), (path, response.status)
        body = b.page.inner_text("main")
        for data in ("flight_id", "Departures", "roc_auc", "0.71", "README", "exports", "alice"):
            assert data not in body, (path, data)
    b.goto("/search?q=source%3Dbts")
    assert "0 object(s)" in b.page.inner_text("main")
    b.goto("/namespaces/default")
    assert "raw-files" not in b.page.inner_text("main")
    b.goto("/apikeys")
    assert "alice" not in b.page.inner_text("main")


def test_every_form_checks_csrf_and_origin(ui_site):  # noqa: F811 - pytest fixtures
    s = http_sign_in(ui_site, "alice")
    token = csrf_of(s.get(ui_site.url + "/apikeys").text)
    forms = [
        ("/apikeys", {"name": "csrf-probe", "scopes": "project"}),
        ("/logout", {}),
        ("/admin/users", {"username": "zed"}),
    ]
    forms += [("/apikeys/alice-main/revoke", {}), ("/sessions/1/revoke", {})]
    for path, fields in forms:
        for extra, headers in (
            ({}, {}),  # no token
            ({"csrf_token": "forged"}, {}),
            ({"csrf_token": token}, {"Origin": "https://evil.example"}),
            ({"csrf_token": token}, {"Sec-Fetch-Site": "cross-site"}),
        ):
            r = s.post(ui_site.url + path, data={**fields, **extra}, headers=headers, allow_redirects=False)
            assert r.status_code == 403, (path, extra, headers, r.status_code)
            assert "CSRF" in r.text or "another site" in r.text or "origin" in r.text
    assert s.get(ui_site.url + "/apikeys").status_code == 200  # still signed in, key not revoked
    assert "csrf-probe" not in s.get(ui_site.url + "/apikeys").text
    fresh = http(ui_site)  # the sign-in form has its own double-submit token
    r = fresh.post(
        ui_site.url + "/login",
        data={"api_key": ui_site.keys["alice"], "csrf_token": "x"},
        allow_redirects=False,
    )
    assert r.status_code == 403 and "__Host-larder_session" not in r.headers.get("set-cookie", "")


BAD = [
    (f"{FG}/flights/99999999999", 400, "99999999999"),
    (f"{FG}/flights/abc", 400, "abc"),
    (f"{FG}/flights/1?commit=-1", 400, "-1"),
    (f"{FG}/flights/1?commit=777", 404, "777"),
    (f"{FG}/flights/1/preview?rows=100000", 400, "100000"),
    (f"{FG}/flights/1/preview?as_of=4242", 404, "4242"),
    (f"{FG}/nope/1", 404, "nope"),
    (f"/projects/{'x' * 70}", 400, "x" * 20),
    (f"{MODEL}?metric=nope", 400, "nope"),
    (f"{MODEL}?direction=sideways", 400, "sideways"),
    (f"{MODEL}/1/files/{quote('../../etc/passwd', safe='')}", 404, "passwd"),
    (f"{DATASET}?limit=0", 400, "0"),
    (f"{DATASET}?prefix={'p' * 1100}", 400, "p" * 20),
    (f"{DATASET}/object?key=missing.txt", 404, "missing.txt"),
    ("/search?q=novalue", 400, "novalue"),
    ("/no/such/page", 404, "/no/such/page"),
    ("/login/link?token=" + "a" * 43, 401, "already used"),
]


def test_bad_input_gets_a_page_naming_the_value_never_a_500(ui_site):  # noqa: F811 - pytest fixtures
    s = http_sign_in(ui_site, "alice")
    for path, status, shown in BAD:
        r = s.get(ui_site.url + path, allow_redirects=False)
        assert r.status_code == status, (path, r.status_code, r.text[:300])
        assert shown in r.text, (path, shown)
        assert r.headers["content-type"].startswith("text/html")
    token = csrf_of(s.get(ui_site.url + "/apikeys").text)
    for fields, shown in (
        ({"name": "bad name!", "scopes": "project"}, "bad name!"),
        ({"name": "ok-name", "scopes": "root"}, "root"),
        ({"name": "ok-name", "scopes": "project", "expires_in_days": "99999"}, "99999"),
        ({"name": "alice-main", "scopes": "project"}, "alice-main"),
    ):
        r = s.post(ui_site.url + "/apikeys", data={"csrf_token": token, **fields})
        assert r.status_code in (400, 403, 409) and shown in r.text, (fields, r.status_code)
    r = s.post(ui_site.url + "/apikeys", data="x" * 10, headers={"Content-Type": "text/plain"})
    assert r.status_code == 400 and "x-www-form-urlencoded" in r.text
    api = http(ui_site).get(ui_site.url + "/api/v1/no/such/route")  # the REST API keeps its JSON errors
    assert api.status_code == 404 and api.json()["error_code"] == "not_found"
    assert http(ui_site).delete(ui_site.url + "/api/v1/version").status_code == 405


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_listing_pages_every_key_once_in_byte_order(backend, tmp_path, request):
    """The file browser's keyset paging on both catalogs (PostgreSQL compares keys as "C")."""
    import sqlalchemy as sa
    from sqlalchemy.orm import Session

    from conftest import _new_pg_database
    from larder.server.db.models import Base, Dataset, Namespace, ObjectEntry, ObjectStore, User
    from larder.server.ui import reads

    url = f"sqlite:///{tmp_path / 'c.db'}"
    if backend == "postgresql":
        url = _new_pg_database(request.getfixturevalue("pg_url"))
    engine = sa.create_engine(url)
    Base.metadata.create_all(engine)
    keys = [f"a/{i:03d}" for i in range(30)] + [f"b-{i:03d}.txt" for i in range(150)]
    keys += ["B.txt", "a.txt", "a-b/x", "é/ü.bin", "z/y/x.bin", "zz.txt", "~tilde"]
    with Session(engine) as db:
        user = User(username="u1")
        store = ObjectStore(name="s1", type="local", root_path="/tmp")
        db.add_all([user, store])
        db.flush()
        ns = Namespace(name="n1", object_store_id=store.id, bucket="n1")
        db.add(ns)
        db.flush()
        ds = Dataset(namespace_id=ns.id, name="d1", owner_id=user.id)
        db.add(ds)
        db.flush()
        for k in keys:
            db.add(ObjectEntry(dataset_id=ds.id, key=k, size=1, last_modified=datetime.now(timezone.utc)))
        db.commit()
        seen, after = [], None
        while True:
            page = reads.list_objects(db, ds, "", after, 40)
            assert len(page.entries) <= 40 and page.total == len(keys)
            seen += [e.key for e in page.entries]
            if page.next_after is None:
                break
            after = page.next_after
        top = sorted({k.split("/")[0] + "/" if "/" in k else k for k in keys}, key=lambda k: k.encode())
        assert seen == top
        inner = reads.list_objects(db, ds, "a/", None, 500)
        assert [e.key for e in inner.entries] == [f"a/{i:03d}" for i in range(30)]
        assert all(e.entry is not None and e.entry.size == 1 for e in inner.entries)
    engine.dispose()
