"""Names must not leak: sharing, granting and creating answer the same for a project that exists
and is hidden as for one that does not; reserved dataset names cannot be squatted; the
``privileged`` role is what creates standalone datasets; a local store never holds the home."""

from __future__ import annotations

from .conftest import uid


def test_sharing_and_granting_reveal_no_project(cast):
    alice, bob = cast.user("alice", role="privileged"), cast.user("bob")
    a, hidden = cast.project(alice), cast.project(bob)
    missing = f"none_{uid()}"
    answers = []
    for target in (hidden, missing):
        fs = alice.api("PUT", f"/projects/{a}/featurestore/shares/{target}")
        mr = alice.api("PUT", f"/projects/{a}/models/_shares/{target}")
        answers.append([(r.status_code, r.json()["message"].replace(target, "X")) for r in (fs, mr)])
    assert answers[0] == answers[1] and all(c == 404 and "not a member" in m for c, m in answers[0]), answers
    ds = f"d{uid()}"
    assert alice.api("POST", "/namespaces/default/datasets", json={"name": ds}).status_code == 201
    grants = [
        alice.api("PUT", f"/namespaces/default/datasets/{ds}/permissions", json={"project": t, "access": "r"})
        for t in (hidden, missing)
    ]
    assert [g.status_code for g in grants] == [404, 404]
    assert grants[0].json()["message"].replace(hidden, "X") == grants[1].json()["message"].replace(
        missing, "X"
    )
    # a project alice is a member of can be shared with, and the share withdrawn by name
    both = cast.project(bob, alice)
    assert alice.api("PUT", f"/projects/{a}/featurestore/shares/{both}").status_code == 200


def test_creating_a_taken_name_says_only_that_it_is_not_available(cast):
    alice, bob = cast.user("alice"), cast.user("bob")
    hidden = cast.project(bob)
    r = alice.api("POST", "/projects", json={"name": hidden})
    assert r.status_code == 409 and "not available" in r.json()["message"]
    assert bob.name not in r.text


def test_project_dataset_names_are_reserved(cast):
    priv = cast.user("priv", role="privileged")
    victim = f"victim_{uid()}"
    for suffix in ("featurestore", "models"):
        r = priv.api("POST", "/namespaces/default/datasets", json={"name": f"{victim}_{suffix}"})
        assert r.status_code == 400 and "reserved" in r.json()["message"], r.text
    assert priv.api("POST", "/projects", json={"name": victim}).status_code == 201


def test_only_privileged_users_create_standalone_datasets(cast):
    user, priv = cast.user("plain"), cast.user("priv", role="privileged")
    cast.project(user)  # a data_owner of a project, still a plain user
    r = user.api("POST", "/namespaces/default/datasets", json={"name": f"d{uid()}"})
    assert r.status_code == 403 and "privileged" in r.json()["message"], r.text
    assert priv.api("POST", "/namespaces/default/datasets", json={"name": f"d{uid()}"}).status_code == 201


def test_a_local_store_never_holds_the_homes_secrets(cast):
    admin = cast.admin()
    home = cast.server.home
    for root in (str(home), str(home.parent), str(home / "tls"), "/"):
        r = admin.api("POST", "/objectstores", json={"name": f"s{uid()}", "type": "local", "root_path": root})
        assert r.status_code == 403 and "secrets" in r.json()["message"], (root, r.text)
    for root in (str(home / "data" / "more"), str(cast.tmp / "elsewhere")):
        r = admin.api("POST", "/objectstores", json={"name": f"s{uid()}", "type": "local", "root_path": root})
        assert r.status_code == 201, (root, r.text)


def test_a_homes_files_are_private_by_their_own_modes(tmp_path):
    """Every file of a home is 0600 and every folder 0700 (the CA certificate, given to clients,
    excepted), as made by init and start under the usual umask 022."""
    import os
    import stat

    from conftest import LarderServer

    old = os.umask(0o022)
    try:
        server = LarderServer(tmp_path / "home").init().start()
    finally:
        os.umask(old)
    try:
        r = server.api("POST", "/projects", server.admin_key, json={"name": "modes"})
        assert r.status_code == 201
        loose = []
        for path in [server.home, *server.home.rglob("*")]:
            if path.name in ("ca.pem", "server.url", "server.log"):  # public, or made by the test itself
                continue
            mode = stat.S_IMODE(path.lstat().st_mode)
            if mode & 0o077:
                loose.append(f"{path.relative_to(server.home)} {oct(mode)}")
        assert not loose, loose
        names = {p.name for p in server.home.iterdir()}
        assert {"larder.db", "online.db", "server.toml", "data", "admin_api_key"} <= names
    finally:
        server.stop()
