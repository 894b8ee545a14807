"""The documentation cannot rot: its examples run, its API is documented, and the site builds strictly.

1. Every fenced ```python block of the guides (``docs/*.md``) is executed. The blocks of one guide
   run in order, in one fresh Python process, against a fresh embedded platform (``LARDER_HOME``
   and ``HOME`` are temporary directories; the platform is stopped afterwards). A block preceded by
   ``<!-- norun: needs ... -->`` is skipped; the reason must name AWS, Databricks, SageMaker, Spark,
   Java or a remote host, the only things a test machine lacks.
2. Every class and function on the API pages that ``auto_doc.py`` generates, and every public method
   and property of those classes, meets the docstring rule (see :func:`docstring_problems`).
3. Every exception class has a section in the troubleshooting guide with its error code and status,
   every CLI command has help text, and griffe parses every docstring without a warning.
4. Docstring examples that need no platform (not marked ``# doctest: +SKIP``) pass as doctests.
5. ``mkdocs build --strict`` passes (broken links or anchors, missing pages and warnings fail).
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
sys.path.insert(0, str(ROOT))

import auto_doc  # noqa: E402

NORUN = re.compile(r"^<!--\s*norun:\s*(.+?)\s*-->$")
NORUN_REASONS = (
    "needs AWS",
    "needs Databricks",
    "needs SageMaker",
    "needs Spark",
    "needs Java",
    "needs a remote host",
)
FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<lang>[\w-]*)[^\n]*$")


def python_blocks(path: Path) -> list[tuple[int, str, str | None]]:
    """``(line, source, norun_reason)`` of every fenced ```python block of a Markdown file."""
    lines = path.read_text().splitlines()
    blocks: list[tuple[int, str, str | None]] = []
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, lang, start = m.group("indent"), m.group("lang"), i
        end = start + 1
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        if lang == "python":
            source = textwrap.dedent("\n".join(ln[len(indent) :] for ln in lines[start + 1 : end]))
            prev = next((lines[j].strip() for j in range(start - 1, -1, -1) if lines[j].strip()), "")
            marker = NORUN.match(prev)
            blocks.append((start + 1, source, marker.group(1) if marker else None))
        i = end + 1
    return blocks


GUIDES = sorted(p for p in DOCS.glob("*.md") if any(r is None for _, _, r in python_blocks(p)))

RUNNER = """
import json, linecache, sys, traceback
guide, blocks = sys.argv[1], json.load(open(sys.argv[2]))
scope = {"__name__": "__main__"}
for number, (line, source) in enumerate(blocks, 1):
    name = f"{guide}:block {number} (line {line})"
    # as a notebook does: the block's source is findable (inspect.getsource of a udf defined in it)
    linecache.cache[name] = (len(source), None, source.splitlines(True), name)
    try:
        exec(compile(source, name, "exec"), scope)
    except BaseException:
        print(f"DOCS-FAILED block {number} (line {line})", file=sys.stderr, flush=True)
        traceback.print_exc()
        sys.exit(1)
"""


def test_guides_have_examples() -> None:
    names = {p.name for p in GUIDES}
    for guide in ("quickstart.md", "connecting.md", "feature-store.md", "model-registry.md", "storage.md"):
        assert guide in names, f"{guide} has no runnable ```python example"


def test_norun_only_for_what_a_test_machine_lacks() -> None:
    for path in DOCS.glob("*.md"):
        for line, _, reason in python_blocks(path):
            if reason is not None:
                assert reason.startswith(NORUN_REASONS), (
                    f"{path.name}:{line}: <!-- norun: {reason} --> is only for examples that need "
                    f"{', '.join(r.removeprefix('needs ') for r in NORUN_REASONS)}"
                )


@pytest.mark.timeout(600)
@pytest.mark.parametrize("guide", GUIDES, ids=[p.name for p in GUIDES])
def test_guide_examples_run(guide: Path, tmp_path: Path) -> None:
    from larder.client.embedded import stop_platform

    blocks = [(line, src) for line, src, reason in python_blocks(guide) if reason is None]
    (tmp_path / "blocks.json").write_text(json.dumps(blocks))
    (tmp_path / "runner.py").write_text(RUNNER)
    home, user_home, work = tmp_path / "larder-home", tmp_path / "user-home", tmp_path / "work"
    user_home.mkdir()
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LARDER_", "AWS_"))}
    env.update({"LARDER_HOME": str(home), "HOME": str(user_home), "PYTHONUNBUFFERED": "1"})
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # the `larder` command
    try:
        proc = subprocess.run(
            [sys.executable, str(tmp_path / "runner.py"), guide.name, str(tmp_path / "blocks.json")],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=540,
        )
    finally:
        stop_platform(home)
    if proc.returncode != 0:
        failed = re.search(r"DOCS-FAILED (block \d+ \(line \d+\))", proc.stderr)
        where = failed.group(1) if failed else f"exit code {proc.returncode}"
        pytest.fail(
            f"docs/{guide.name}: {where} failed.\n--- stdout (tail)\n{proc.stdout[-3000:]}\n"
            f"--- stderr (tail)\n{proc.stderr[-6000:]}"
        )


# --- the docstring rule ----------------------------------------------------------------------------

# Classes users construct themselves (auto_doc.USER_CONSTRUCTED): their constructor's arguments
# and raises belong in the class docstring. The others are handed out by the API
# (``fs.get_feature_group(...)``); their constructors are plumbing and are not documented.
USER_CONSTRUCTED = auto_doc.USER_CONSTRUCTED
ARGS_SECTIONS = {"parameters", "other parameters"}


def _raises_in_body(source: str) -> bool:
    """True when the function's own body has ``raise X`` (not a bare re-raise, not in nested defs)."""
    tree = ast.parse(textwrap.dedent(source))
    func = tree.body[0]
    stack: list[ast.AST] = list(ast.iter_child_nodes(func))
    while stack:
        node = stack.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef):
            continue
        if isinstance(node, ast.Raise) and node.exc is not None:
            return True
        stack.extend(ast.iter_child_nodes(node))
    return False


def _section_text(sections: list[Any], kinds: set[str]) -> str:
    out = []
    for s in sections:
        if s.kind.value in kinds:
            out.extend(f"{p.name} {p.description}" for p in s.value)
    return " ".join(out)


def _has_example(sections: list[Any]) -> bool:
    return any(
        s.kind.value == "examples"
        or (s.kind.value == "admonition" and (s.title or "").lower() in ("example", "examples"))
        for s in sections
    )


def docstring_problems(obj: Any) -> list[str]:
    """What ``obj``'s docstring misses under the rule:

    - every class, function, method and property has a docstring;
    - a callable with parameters (besides ``self``) has an ``Args:`` section naming each of them
      (for classes: the constructor of the classes in :data:`USER_CONSTRUCTED`);
    - a callable whose own body raises (``raise X``; helpers' raises are best effort) has a
      ``Raises:`` section;
    - every class and every function or method (not properties) has an ``Example:`` section;
      exception classes are exempt (their cause and fix are in the troubleshooting guide).
    """
    import auto_doc

    problems: list[str] = []
    if obj.docstring is None or not obj.docstring.value.strip():
        return ["no docstring"]
    sections = auto_doc.sections(obj)
    is_error = obj.is_class and obj.name.endswith("Error")
    callable_obj = None
    if obj.is_function:
        callable_obj = obj
    elif obj.is_class and obj.path in USER_CONSTRUCTED:
        callable_obj = obj.members.get("__init__")
    if callable_obj is not None:
        params = [
            p.name
            for i, p in enumerate(callable_obj.parameters)
            if not (i == 0 and p.name in ("self", "cls"))
        ]
        documented = _section_text(sections, ARGS_SECTIONS)
        missing = [p for p in params if not re.search(rf"(?<!\w){re.escape(p)}(?!\w)", documented)]
        if missing:
            problems.append(f"Args: does not describe {missing}")
    raises = callable_obj if callable_obj is not None else obj if auto_doc.is_property(obj) else None
    has_raises = any(s.kind.value == "raises" for s in sections)
    if raises is not None and raises.source and _raises_in_body(raises.source) and not has_raises:
        problems.append("raises, but has no Raises: section")
    if not auto_doc.is_property(obj) and not is_error and not _has_example(sections):
        problems.append("no Example: section")
    return problems


def test_api_docstrings_meet_the_rule() -> None:
    failures = []
    for page, obj in auto_doc.api_objects():
        for problem in docstring_problems(obj):
            failures.append(f"{obj.path} ({obj.relative_filepath}:{obj.lineno}, page {page}): {problem}")
    assert not failures, f"{len(failures)} docstring(s) break the rule:\n" + "\n".join(failures)


@pytest.mark.parametrize("module", sorted({obj.module.path for _, obj in auto_doc.api_objects()}))
def test_docstring_examples_that_stand_alone_run(module: str) -> None:
    """Docstring examples not marked ``# doctest: +SKIP`` (those need a platform) are doctests."""
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0, f"{result.failed} docstring example(s) of {module} failed (see the output)"


def test_griffe_parses_every_docstring_without_warnings() -> None:
    auto_doc.package.cache_clear()  # parse afresh: griffe warns only the first time it parses
    auto_doc.WARNINGS.clear()
    for page in auto_doc.PAGES:
        auto_doc.render_page(page)
    assert not auto_doc.WARNINGS, "griffe could not parse:\n" + "\n".join(auto_doc.WARNINGS)


def test_every_error_is_in_the_troubleshooting_guide() -> None:
    import larder.errors as errors
    from larder.model_registry import ArtifactCorruptedError

    text = (DOCS / "troubleshooting.md").read_text()
    classes = [c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, errors.LarderError)]
    for cls in [*classes, ArtifactCorruptedError]:
        section = re.search(rf"^##+ .*`{cls.__name__}`.*$(.*?)(?=^##+ |\Z)", text, re.M | re.S)
        assert section, f"troubleshooting.md has no heading naming `{cls.__name__}`"
        body = section.group(0)
        assert f"`{cls.error_code}`" in body, (
            f"{cls.__name__}: its error code `{cls.error_code}` is not given"
        )
        assert str(cls.http_status) in body, f"{cls.__name__}: its HTTP status {cls.http_status} is not given"
        assert re.search(r"\*\*Fix", body), f"{cls.__name__}: no **Fix** paragraph"


def test_every_cli_command_has_help() -> None:
    import click

    from larder.cli import main

    def walk(cmd: click.Command, path: str) -> list[str]:
        bad = [] if (cmd.help or "").strip() else [path]
        if isinstance(cmd, click.Group):
            for name, sub in cmd.commands.items():
                bad += walk(sub, f"{path} {name}")
        return bad

    assert walk(main, "larder") == []


@pytest.mark.timeout(300)
def test_mkdocs_build_strict(tmp_path: Path) -> None:
    mkdocs = Path(sys.executable).parent / "mkdocs"
    proc = subprocess.run(
        [str(mkdocs), "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert proc.returncode == 0, (
        f"mkdocs build --strict failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    )
    assert (tmp_path / "site" / "generated" / "api" / "connection" / "index.html").is_file()


# --- installing: the distribution's own name, and the README's admin recipe ----------------------

DISTRIBUTION = "larder-platform"
PIP_INSTALL = re.compile(r"pip3? install\s+(?P<args>[^`\n]*)")
PIP_FLAG = re.compile(r"^-{1,2}[\w-]+(=\S+)?$")


def _requirement_name(arg: str) -> str | None:
    """The distribution a ``pip install`` argument names; None for a path, a URL or a wheel file."""
    arg = arg.strip("'\"")
    if not arg or "/" in arg or arg.startswith(".") or ".whl" in arg or "://" in arg or "<" in arg:
        return None
    m = re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]*", arg)
    return m.group(0).lower().replace("_", "-") if m else None


def pip_install_lines() -> list[tuple[str, int, str]]:
    """``(file, line, command)`` of every ``pip install`` the docs, READMEs, Makefile and the
    package's own messages tell a user to run."""
    files = [ROOT / "README.md", ROOT / "python" / "README.md", ROOT / "Makefile", *DOCS.glob("*.md")]
    files += sorted((ROOT / "python" / "larder").rglob("*.py"))
    found = []
    for path in files:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            for m in PIP_INSTALL.finditer(line):
                found.append((str(path.relative_to(ROOT)), number, m.group(0)))
    return found


def test_every_pip_install_names_the_distribution_not_the_unrelated_pypi_larder() -> None:
    """PyPI's ``larder`` is an unrelated project: an install line naming it installs someone else's
    code. Every line names ``larder-platform`` (with extras or a version) or a wheel/path of it."""
    lines = pip_install_lines()
    assert len(lines) > 20, lines  # the scan finds the docs' install lines
    bad, ours = [], 0
    for where, number, command in lines:
        args = [a for a in command.split()[2:] if not PIP_FLAG.match(a)]
        names = [_requirement_name(a) for a in args]
        if "larder" in names:
            bad.append(f"{where}:{number}: {command}")
        ours += DISTRIBUTION in names or any("larder_platform-" in a or "./python" in a for a in args)
    assert not bad, "install lines naming PyPI's unrelated `larder`:\n" + "\n".join(bad)
    assert ours > 20


def test_wheel_names_in_the_docs_match_the_version() -> None:
    import larder

    wheel = f"larder_platform-{larder.__version__}-py3-none-any.whl"
    for where, number, command in pip_install_lines():
        for m in re.finditer(r"larder_platform-[^\s'\"\[]+", command):
            assert m.group(0) == wheel, f"{where}:{number}: {m.group(0)} is not the built wheel {wheel}"


def test_pyproject_names_the_distribution_and_make_dist_checks_it() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "python" / "pyproject.toml").read_text())["project"]
    assert project["name"] == DISTRIBUTION
    extras = project["optional-dependencies"]
    assert all(not d.startswith("larder[") for deps in extras.values() for d in deps)
    assert any(d.startswith("build") for d in extras["dev"]) and any(
        d.startswith("twine") for d in extras["dev"]
    )
    makefile = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^dist:.*\n((?:\t.*\n)+)", makefile, re.M)
    assert recipe, "the Makefile has no dist target"
    assert "-m build" in recipe.group(1) and "twine check --strict" in recipe.group(1)


@pytest.mark.timeout(300)
def test_make_dist_builds_a_wheel_and_sdist_that_twine_accepts(tmp_path: Path) -> None:
    """What ``make dist`` runs (``python -m build``, ``twine check --strict``), into a temporary
    folder; the wheel holds the package under the distribution's name."""
    import zipfile

    import larder

    out = tmp_path / "dist"
    build = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(ROOT / "python")],
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    wheel = out / f"larder_platform-{larder.__version__}-py3-none-any.whl"
    sdist = out / f"larder_platform-{larder.__version__}.tar.gz"
    assert wheel.is_file() and sdist.is_file(), sorted(p.name for p in out.iterdir())
    twine = subprocess.run(
        [str(Path(sys.executable).parent / "twine"), "check", "--strict", str(wheel), str(sdist)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert twine.returncode == 0, twine.stdout + twine.stderr
    names = zipfile.ZipFile(wheel).namelist()
    assert "larder/__init__.py" in names and "larder/server/db/migrations/env.py" in names
    metadata = (
        zipfile.ZipFile(wheel).read(f"larder_platform-{larder.__version__}.dist-info/METADATA").decode()
    )
    assert f"Name: {DISTRIBUTION}" in metadata


def _readme_block(after_heading: str, containing: str) -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text[text.index(after_heading) :]
    for block in re.findall(r"^```[^\n]*\n(.*?)^```", section, re.M | re.S):
        if containing in block:
            return [ln for ln in block.splitlines() if ln.strip()]
    raise AssertionError(f"README.md has no block with {containing!r} after {after_heading!r}")


@pytest.mark.timeout(300)
def test_readme_admin_recipe_gives_a_key_that_runs_the_quickstart(tmp_path: Path) -> None:
    """The README's commands, as printed (only the URL and home replaced by a real server's), make
    a user, a key and a project; the quickstart's feature store blocks then run with that key."""
    from conftest import LarderServer

    server = LarderServer(tmp_path / "larder-home").init().start()
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LARDER_", "AWS_"))}
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        env["HOME"] = str(tmp_path)  # ~/larder-home is the server's home
        key = None
        for line in _readme_block("## Running a platform", "larder apikey create"):
            line = line.replace("https://larder.example.com:8181", server.url)
            if "<alice's key>" in line:
                assert key, "the recipe uses alice's key before it creates one"
                line = line.replace("<alice's key>", key)
            proc = subprocess.run(["bash", "-c", line], env=env, capture_output=True, text=True, timeout=120)
            assert proc.returncode == 0, f"{line}\n{proc.stdout}\n{proc.stderr}"
            if line.startswith("export "):
                for name, value in re.findall(r"(\w+)=(\S+)", line):
                    env[name] = value.replace("~", str(tmp_path))
            if "apikey create" in line:
                key = proc.stdout.strip().splitlines()[-1]
        assert key and "." in key
        project = re.search(r"project create (\w+)", "\n".join(_readme_block("## Running", "project create")))
        assert project
        blocks = [src for _, src, reason in python_blocks(DOCS / "quickstart.md") if reason is None][:2]
        assert "fg.insert(" in blocks[0]
        script = "\n".join(blocks) + "\nassert len(fg.read()) == 2\nprint('QUICKSTART-OK', conn.user)\n"
        host, port = server.url.removeprefix("https://").rsplit(":", 1)
        env.update(
            LARDER_HOST=host,
            LARDER_PORT=port,
            LARDER_PROJECT=project.group(1),
            LARDER_API_KEY=key,
            LARDER_TRUST_STORE=server.ca,
        )
        run = subprocess.run(
            [sys.executable, "-c", script], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=240
        )
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
        assert "QUICKSTART-OK alice" in run.stdout
    finally:
        server.stop()
