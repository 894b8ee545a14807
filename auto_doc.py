"""Generate the API reference, the CLI reference and the benchmark page into ``docs/generated/``.

The Python API pages are rendered from the docstrings (Google style) with griffe, which parses the
package's source without importing it; the CLI page renders ``larder --help`` and every
subcommand's help through click's own API; the benchmark page is ``benchmarks/RESULTS.md``.

Run it alone (``python auto_doc.py``) or let mkdocs run it: ``mkdocs.yml`` lists this file under
``hooks``, and :func:`on_pre_build` regenerates the pages before every build. Files are rewritten
only when their content changes, so ``mkdocs serve`` does not loop. Docstring problems griffe
reports (a parameter that is not in the signature, an unparsable section line) are collected in
:data:`WARNINGS`; under mkdocs they are logged as warnings, so ``mkdocs build --strict`` fails.

``tests/test_docs.py`` imports :data:`PAGES` and :func:`api_objects` to check the docstring rule on
exactly the objects documented here.
"""

from __future__ import annotations

import logging
import posixpath
import re
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
SRC = ROOT / "python"
DOCS = ROOT / "docs"
OUT = DOCS / "generated"
RESULTS = ROOT / "benchmarks" / "RESULTS.md"

# page (under docs/generated/) -> (title, intro, objects in the order they are shown)
PAGES: dict[str, tuple[str, str, list[str]]] = {
    "api/connection.md": (
        "Connection",
        "Open a connection to a platform and get the feature store, model registry and storage "
        "handles from it. Guide: [Connecting](../../connecting.md).",
        [
            "larder.connection.connection",
            "larder.connection.connect",
            "larder.connection.Connection",
            "larder.client.auth.AuthService",
            "larder.client.certificates.Certificates",
        ],
    ),
    "api/feature_store.md": (
        "FeatureStore",
        "A project's feature store. Guide: [Feature store](../../feature-store.md).",
        ["larder.feature_store.feature_store.FeatureStore"],
    ),
    "api/feature_group.md": (
        "FeatureGroup",
        "Versioned tables of features. Guide: [Feature store](../../feature-store.md).",
        ["larder.feature_store.feature_group.FeatureGroup"],
    ),
    "api/feature.md": (
        "Feature and filters",
        "Features are the columns of a feature group; comparing them builds filters.",
        [
            "larder.feature_store.feature.Feature",
            "larder.feature_store.feature.Filter",
            "larder.feature_store.feature.Logic",
        ],
    ),
    "api/query.md": (
        "Query",
        "Selections of features, joined point-in-time. Guide: "
        "[Point-in-time joins](../../feature-store.md#point-in-time-joins).",
        ["larder.feature_store.query.Query"],
    ),
    "api/feature_view.md": (
        "FeatureView",
        "Training data and online serving. Guide: [Feature views](../../feature-store.md#feature-views).",
        ["larder.feature_store.feature_view.FeatureView"],
    ),
    "api/transformation_functions.md": (
        "Transformation functions",
        "Built-in and custom transformation functions, fitted on the training split. Guide: "
        "[Transformation functions](../../feature-store.md#transformation-functions).",
        [
            "larder.feature_store.transformation_functions.udf",
            "larder.feature_store.transformation_functions.builtin",
            "larder.feature_store.transformation_functions.HopsworksUdf",
            "larder.feature_store.transformation_functions.TransformationStatistics",
            "larder.feature_store.transformation_functions.FeatureTransformationStatistics",
            "larder.feature_store.transformation_functions.TransformationFunction",
        ],
    ),
    "api/model_registry.md": (
        "ModelRegistry",
        "A project's model registry. Guide: [Model registry](../../model-registry.md).",
        [
            "larder.model_registry.model_registry.ModelRegistry",
            "larder.model_registry.model_registry.Flavour",
        ],
    ),
    "api/model.md": (
        "Model",
        "A model version: artifacts, metrics, tags and lineage.",
        ["larder.model_registry.model.Model"],
    ),
    "api/model_schema.md": (
        "ModelSchema and Schema",
        "What a model takes in and gives out, inferred from example data.",
        [
            "larder.model_registry.schema.ModelSchema",
            "larder.model_registry.schema.Schema",
            "larder.model_registry.schema.input_example_to_json",
        ],
    ),
    "api/storage.md": (
        "Namespace, Dataset, DatasetRef",
        "Object-store namespaces, datasets and pathlib-like paths. Guide: [Storage](../../storage.md).",
        [
            "larder.storage.namespace.Namespace",
            "larder.storage.namespace.Dataset",
            "larder.storage.namespace.Permission",
            "larder.storage.ref.DatasetRef",
        ],
    ),
    "api/errors.md": (
        "Errors",
        "Every exception Larder raises on purpose, and the warnings it gives where hsfs/hsml "
        "behaviour is kept ([Migrating](../../migrating.md)). Causes and fixes: "
        "[Troubleshooting](../../troubleshooting.md).",
        [
            "larder.errors.LarderError",
            "larder.errors.InvalidArgumentError",
            "larder.errors.AuthenticationError",
            "larder.errors.PermissionDeniedError",
            "larder.errors.NotFoundError",
            "larder.errors.AlreadyExistsError",
            "larder.errors.ConflictError",
            "larder.errors.PayloadTooLargeError",
            "larder.errors.ServerError",
            "larder.errors.ServiceUnavailableError",
            "larder.errors.ConfigurationError",
            "larder.errors.ConnectionFailedError",
            "larder.errors.ApiKeyNotFoundError",
            "larder.model_registry._transfer.ArtifactCorruptedError",
            "larder.errors.from_response_body",
            "larder.errors.NaiveTimeWarning",
            "larder.errors.VersionNotPinnedWarning",
            "larder.errors.DuplicateKeysWarning",
        ],
    ),
}
# Classes users construct themselves: their constructor is shown and documented in the class
# docstring. The others are handed out by the API (``fs.get_feature_group(...)``) and are shown
# without their (internal) constructor arguments.
USER_CONSTRUCTED = {
    "larder.connection.Connection",
    "larder.client.auth.AuthService",
    "larder.model_registry.schema.ModelSchema",
    "larder.model_registry.schema.Schema",
    "larder.errors.LarderError",
    "larder.feature_store.transformation_functions.TransformationStatistics",
}
CLI_PAGE = "cli.md"
BENCH_PAGE = "benchmark-results.md"

# griffe's Google parser: "Returns: type: description" (no name); doctest flags are trimmed below.
DOCSTRING_OPTIONS = {"returns_named_value": False, "trim_doctest_flags": True}

WARNINGS: list[str] = []
"""Docstring problems griffe reported while the pages were rendered (empty when all is well)."""

log = logging.getLogger("mkdocs.plugins.auto_doc")  # under "mkdocs": counted by --strict


class _Collect(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message not in WARNINGS:
            WARNINGS.append(message)


# --- loading ---------------------------------------------------------------------------------------


@cache
def package() -> Any:
    """The ``larder`` package as griffe sees it (parsed from source, never imported)."""
    import griffe

    return griffe.load(
        "larder",
        search_paths=[str(SRC)],
        docstring_parser="google",
        docstring_options=DOCSTRING_OPTIONS,  # type: ignore[arg-type]
    )


def get(path: str) -> Any:
    """The griffe object at a dotted path such as ``larder.connection.Connection``."""
    return package()[path.removeprefix("larder.")]


def sections(obj: Any) -> list[Any]:
    """The parsed docstring sections of ``obj`` ([] without a docstring); griffe warnings are kept."""
    if obj.docstring is None:
        return []
    griffe_log = logging.getLogger("griffe")
    handler = _Collect(logging.WARNING)
    griffe_log.addHandler(handler)
    try:
        return list(obj.docstring.parsed)
    finally:
        griffe_log.removeHandler(handler)


def is_property(obj: Any) -> bool:
    return obj.is_attribute and "property" in obj.labels


def public_members(cls: Any) -> list[Any]:
    """A class's own public methods and properties, in source order (plain attributes are described
    by the class's ``Attributes:`` section instead)."""
    members = [
        m
        for name, m in cls.members.items()
        if not name.startswith("_") and not m.is_alias and (m.is_function or is_property(m))
    ]
    return sorted(members, key=lambda m: m.lineno or 0)


def api_objects() -> Iterator[tuple[str, Any]]:
    """``(page, object)`` for every documented class and function, then their public members."""
    for page, (_, _, paths) in PAGES.items():
        for path in paths:
            obj = get(path)
            yield page, obj
            if obj.is_class:
                for member in public_members(obj):
                    yield page, member


# --- cross references --------------------------------------------------------------------------------


@cache
def _anchors() -> dict[str, str]:
    """Dotted path -> page of every documented object and member."""
    return {obj.path: page for page, obj in api_objects()}


_ROLE = re.compile(r":(?:class|meth|func|attr|mod|data|exc|obj):`(~?)([\w.]+)`")


def resolve(target: str, context: Any = None) -> str | None:
    """The documented dotted path a docstring reference names, or None (it is then shown as code)."""
    anchors = _anchors()
    candidates = [target]
    if context is not None:  # `connect` inside Connection's docstrings
        cls = context if context.is_class else context.parent
        if cls is not None and cls.is_class:
            candidates.append(f"{cls.path}.{target}")
    for c in candidates:
        if c in anchors:
            return c
    parts = target.split(".")
    # suffix match, longest first: FeatureStore.create_feature_group, larder.storage.Dataset
    for k in range(len(parts), 0, -1):
        tail = "." + ".".join(parts[-k:])
        found = [p for p in anchors if p.endswith(tail)]
        if len(found) > 1 and context is not None:  # ambiguous: prefer the context's own module
            found = [p for p in found if p.startswith(context.module.path + ".")]
        if len(found) == 1:
            return found[0]
    return None


def _link(page: str, path: str, text: str) -> str:
    there = _anchors()[path]
    target = "" if there == page else posixpath.relpath(there, posixpath.dirname(page) or ".")
    return f"[`{text}`]({target}#{path})"


def markdown(text: str, page: str, context: Any = None) -> str:
    """Docstring text as Markdown: Sphinx roles become links to the documented objects."""

    def sub(m: re.Match[str]) -> str:
        short, target = m.group(1), m.group(2)
        shown = target.rsplit(".", 1)[-1] if short else target
        path = resolve(target, context)
        return _link(page, path, shown) if path else f"`{shown}`"

    return _ROLE.sub(sub, text)


# --- rendering ---------------------------------------------------------------------------------------


def signature(obj: Any) -> str:
    """``name(param: type = default, ...) -> returns``, one parameter per line when long."""
    params = list(obj.parameters) if obj.parameters is not None else []
    if params and params[0].name in ("self", "cls") and (obj.is_class or obj.parent.is_class):
        params = params[1:]
    parts: list[str] = []
    seen_kw_marker = False
    for i, p in enumerate(params):
        kind = p.kind.value if p.kind is not None else ""
        if kind == "keyword-only" and not seen_kw_marker:
            parts.append("*")
            seen_kw_marker = True
        if kind == "variadic positional":
            seen_kw_marker = True
        prefix = {"variadic positional": "*", "variadic keyword": "**"}.get(kind, "")
        text = prefix + p.name
        if p.annotation is not None:
            text += f": {p.annotation}"
        default = _value(obj, p.default)
        if default is not None and not prefix:
            text += f" = {default}" if p.annotation is not None else f"={default}"
        parts.append(text)
        if kind == "positional-only" and (i + 1 == len(params) or params[i + 1].kind != p.kind):
            parts.append("/")
    name = obj.name
    returns = "" if obj.is_class or obj.returns is None else f" -> {obj.returns}"
    one_line = f"{name}({', '.join(parts)}){returns}"
    if len(one_line) <= 90:
        return one_line
    inner = "".join(f"    {p},\n" for p in parts)
    return f"{name}(\n{inner}){returns}"


def _value(obj: Any, default: Any) -> str | None:
    """A default as source text; a module constant (``port: int = DEFAULT_PORT``) shows its value."""
    if default is None:
        return None
    text = str(default)
    constant = obj.module.members.get(text) if text.isidentifier() else None
    if constant is not None and constant.is_attribute and constant.value is not None:
        return str(constant.value)
    return text


def _indent(text: str, spaces: int = 4) -> str:
    """Indent every line but the first, so that a multi-line text continues a list item."""
    lines = text.strip().splitlines() or [""]
    return "\n".join([lines[0], *[(" " * spaces + ln) if ln.strip() else "" for ln in lines[1:]]])


def _example(text: str) -> str:
    """An example as a ``pycon`` block (doctest flags removed), or a literal ``::`` block as code."""
    text = re.sub(r"[ \t]*#\s*doctest:[^\n]*", "", text)
    lines = [ln.rstrip() for ln in text.strip("\n").splitlines()]
    if any(ln.lstrip().startswith(">>>") for ln in lines):
        return "```pycon\n" + "\n".join(lines) + "\n```"
    if lines and lines[0].endswith("::"):  # reStructuredText literal block
        return lines[0][:-1] + "\n\n```\n" + "\n".join(lines[1:]).strip("\n") + "\n```"
    return "\n".join(lines)


def _param_item(p: Any, declared: Any, obj: Any, page: str) -> str:
    """One ``Args:``/``Attributes:`` entry: its name, type and default (from the signature when the
    docstring gives none) and its description."""
    ann = p.annotation or (declared.annotation if declared is not None else None)
    variadic = declared is not None and "variadic" in declared.kind.value
    default = _value(obj, declared.default) if declared is not None and not variadic else None
    meta = ", ".join(x for x in (f"`{ann}`" if ann else "", f"default `{default}`" if default else "") if x)
    desc = _indent(markdown(p.description, page, obj)) if p.description else ""
    return f"- **`{p.name}`**" + (f" ({meta})" if meta else "") + (f": {desc}" if desc else "")


def render_sections(obj: Any, page: str) -> str:
    """The docstring of ``obj`` as Markdown blocks."""
    out: list[str] = []
    signature_params = {p.name: p for p in (obj.parameters or [])} if obj.is_function or obj.is_class else {}
    for s in sections(obj):
        kind = s.kind.value
        if kind == "text":
            out.append(markdown(_example(s.value) if "::" in s.value else s.value, page, obj))
        elif kind in ("parameters", "other parameters", "attributes"):
            title = {"parameters": "Parameters", "attributes": "Attributes"}.get(kind, "Other parameters")
            items = [_param_item(p, signature_params.get(p.name), obj, page) for p in s.value]
            out.append(f"**{title}**\n\n" + "\n".join(items))
        elif kind in ("returns", "yields"):
            items = []
            for r in s.value:
                ann = f"`{r.annotation}`" if r.annotation else ""
                desc = _indent(markdown(r.description, page, obj)) if r.description else ""
                items.append("- " + ": ".join(x for x in (ann, desc) if x))
            out.append(f"**{kind.capitalize()}**\n\n" + "\n".join(items))
        elif kind == "raises":
            items = []
            for r in s.value:
                ann = str(r.annotation)
                path = resolve(ann, obj)
                shown = _link(page, path, ann.rsplit(".", 1)[-1]) if path else f"`{ann}`"
                items.append(f"- {shown}: {_indent(markdown(r.description, page, obj))}")
            out.append("**Raises**\n\n" + "\n".join(items))
        elif kind == "examples":
            blocks = [_example(v) if k.value == "examples" else markdown(v, page, obj) for k, v in s.value]
            out.append("**Example**\n\n" + "\n\n".join(blocks))
        elif kind == "admonition":
            title = s.title or s.value.annotation or "Note"
            if title.lower() in ("example", "examples"):
                out.append("**Example**\n\n" + _example(s.value.contents))
            else:
                body = _indent(markdown(s.value.contents, page, obj))
                out.append(f'!!! note "{title}"\n    {body}')
        else:  # pragma: no cover - a section kind this package does not use
            out.append(str(s.value))
    return "\n\n".join(out)


def _heading(level: int, text: str, path: str) -> str:
    return f"{'#' * level} {text} {{ #{path} }}"


def render_object(obj: Any, page: str) -> str:
    """One class (with its public members) or function, as Markdown."""
    parts: list[str] = []
    if obj.is_class:
        bases = [str(b) for b in obj.bases if str(b) not in ("object", "ABC")]
        parts.append(_heading(2, obj.name, obj.path))
        documents_args = any(sec.kind.value == "parameters" for sec in sections(obj))
        shown = obj.path in USER_CONSTRUCTED or documents_args or obj.name.endswith("Error")
        parts.append(f"```python\nclass {signature(obj) if shown else obj.name}\n```")
        if bases:
            parts.append("Bases: " + ", ".join(f"`{b}`" for b in bases))
        if obj.path.startswith(("larder.errors.", "larder.model_registry._transfer.")) and obj.name.endswith(
            "Error"
        ):
            parts.append(_error_facts(obj))
        parts.append(render_sections(obj, page))
        props = [m for m in public_members(obj) if is_property(m)]
        methods = [m for m in public_members(obj) if m.is_function]
        if props:  # small headings (below the table of contents' depth) so that links can target them
            parts.append("**Properties**")
            for m in props:
                ann = f"`{m.annotation}` · " if m.annotation is not None else ""
                parts.append(_heading(4, f"`{m.name}`", m.path) + f"\n\n{ann}{render_sections(m, page)}")
        for m in methods:
            parts.append(_heading(3, f"{obj.name}.{m.name}()", m.path))
            parts.append(f"```python\n{signature(m)}\n```")
            parts.append(render_sections(m, page))
    else:
        qualified = (
            "larder." + obj.name
            if obj.path in ("larder.connection.connection", "larder.connection.connect")
            else obj.name
        )
        parts.append(_heading(2, f"{qualified}()", obj.path))
        parts.append(f"```python\n{signature(obj)}\n```")
        parts.append(render_sections(obj, page))
    return "\n\n".join(p for p in parts if p)


def _error_facts(obj: Any) -> str:
    """``error_code`` and HTTP status of an exception class, read from the imported class."""
    import importlib

    module = importlib.import_module(obj.module.path)
    cls = getattr(module, obj.name)
    where = "client-side only" if cls.__name__ in _CLIENT_SIDE else "REST API"
    return f"`error_code` **`{cls.error_code}`** · HTTP status **{cls.http_status}** · {where}"


_CLIENT_SIDE = {
    "ConfigurationError",
    "ConnectionFailedError",
    "ApiKeyNotFoundError",
    "ArtifactCorruptedError",
}


def render_page(page: str) -> str:
    title, intro, paths = PAGES[page]
    header = f"# {title}\n\n<!-- Generated by auto_doc.py from the docstrings; do not edit. -->\n\n{intro}"
    return header + "\n\n" + "\n\n".join(render_object(get(p), page) for p in paths) + "\n"


def render_cli() -> str:
    """``larder --help`` and the help of every subcommand, through click's API."""
    import click

    sys.path.insert(0, str(SRC))
    from larder.cli import main

    blocks: list[str] = []

    def walk(cmd: click.Command, name: str, parent: click.Context | None, level: int) -> None:
        ctx = click.Context(cmd, info_name=name, parent=parent, terminal_width=100, max_content_width=100)
        full = ctx.command_path
        blocks.append(f"{'#' * level} `{full}`\n\n```text\n{cmd.get_help(ctx)}\n```")
        if isinstance(cmd, click.Group):
            for sub_name in cmd.list_commands(ctx):
                sub = cmd.get_command(ctx, sub_name)
                if sub is not None and not sub.hidden:
                    walk(sub, sub_name, ctx, min(level + 1, 3))

    walk(main, "larder", None, 2)
    intro = (
        "# Command line\n\n<!-- Generated by auto_doc.py from the click commands; do not edit. -->\n\n"
        "The `larder` command creates and runs platforms (`server init`, `server start`) and manages "
        "users, projects, API keys and object stores over REST. Those commands take `--url`, "
        "`--api-key-file`, `--trust-store` and `--json` (or the environment variables `LARDER_URL`, "
        "`LARDER_API_KEY`, `LARDER_TRUST_STORE`); `login` stores a key for the Python connector. "
        "Guide: [Running a server](../server.md)."
    )
    return intro + "\n\n" + "\n\n".join(blocks) + "\n"


_IMAGE = re.compile(r"!\[([^\]]*)\]\(([^)\s]+)\)")
_LINK = re.compile(r"(?<!!)\[([^\]]+)\]\((?!https?://|#)([^)\s]+)\)")


def render_benchmarks(assets: list[tuple[Path, Path]]) -> str:
    """``benchmarks/RESULTS.md`` as a page (its images copied next to it), or how to produce it."""
    header = "<!-- Generated by auto_doc.py from benchmarks/RESULTS.md; do not edit. -->\n\n"
    if not RESULTS.is_file():
        return (
            "# Benchmark results\n\n"
            + header
            + "No results yet: `make bench` runs the benchmarks and writes "
            "`benchmarks/RESULTS.md`, which this page shows.\n"
        )
    text = RESULTS.read_text()

    def image(m: re.Match[str]) -> str:
        src = (RESULTS.parent / m.group(2)).resolve()
        if not src.is_file() or RESULTS.parent not in src.parents:
            return f"*({m.group(1)}: image not found)*"
        assets.append((src, OUT / src.name))
        return f"![{m.group(1)}]({src.name})"

    text = _IMAGE.sub(image, text)
    text = _LINK.sub(lambda m: f"{m.group(1)} (`benchmarks/{m.group(2)}`)", text)  # repository files
    if not text.lstrip().startswith("# "):
        text = "# Benchmark results\n\n" + text
    first, _, rest = text.partition("\n")
    return first + "\n\n" + header + rest.lstrip("\n")


# --- writing -----------------------------------------------------------------------------------------


def _write(path: Path, text: str | bytes) -> None:
    """Write only when the content changes (keeps ``mkdocs serve`` from rebuilding in a loop)."""
    data = text.encode() if isinstance(text, str) else text
    if path.is_file() and path.read_bytes() == data:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def main() -> list[Path]:
    """Write every page into ``docs/generated/``; returns the pages written. Stale pages are removed."""
    WARNINGS.clear()
    pages: dict[Path, str] = {OUT / page: render_page(page) for page in PAGES}
    pages[OUT / CLI_PAGE] = render_cli()
    assets: list[tuple[Path, Path]] = []
    pages[OUT / BENCH_PAGE] = render_benchmarks(assets)
    for path, text in pages.items():
        _write(path, text)
    for src, dst in assets:
        _write(dst, src.read_bytes())
    keep = set(pages) | {dst for _, dst in assets}
    for old in OUT.rglob("*"):
        if old.is_file() and old not in keep:
            old.unlink()
    return sorted(pages)


def on_pre_build(config: Any) -> None:
    """mkdocs hook: regenerate the pages before each build; docstring problems become warnings."""
    main()
    for message in WARNINGS:
        log.warning("auto_doc: %s", message)


if __name__ == "__main__":
    for written in main():
        print(written.relative_to(ROOT))
    for message in WARNINGS:
        print(f"warning: {message}", file=sys.stderr)
    sys.exit(1 if WARNINGS else 0)
