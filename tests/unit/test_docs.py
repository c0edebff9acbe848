"""README.md and docs/*.md match the code.

Every `playlist2vec ...` command (and the flags written beside it), `P2V_*` setting, HTTP route
and `p2v_*` metric a page names exists, each read from the code: the Typer app, the Settings
fields (plus the variables the deploy scripts read), the routes the FastAPI apps under
`serving/` declare and the metrics the source packages define. README names every setting
and command; docs/architecture.md, the project's statement of its contracts, names every
setting, route and metric.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest
import typer.main
from fastapi import FastAPI

from playlist2vec.cli import app
from playlist2vec.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
ARCHITECTURE = ROOT / "docs" / "architecture.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
SOURCES = ("playlist2vec", "batch", "streaming", "serving")

SETTING = re.compile(r"\bP2V_[A-Z0-9_]*[A-Z0-9]")
DEPLOY_VARIABLE = re.compile(r"\$\{?(P2V_[A-Z0-9_]+)")
METRIC = re.compile(r"(?<![\w.])p2v_[a-z0-9_]+\*?(?![\w.])")
ROUTE = re.compile(r"(?<![\w.:/-])(/v1/[\w{}:.-]+(?:/[\w{}:.-]+)*|/healthz|/readyz|/metrics|/docs"
                   r"|/openapi\.json)")
COMMAND = re.compile(r"(?<![\w/.-])playlist2vec((?: +[^\s`|;&]+)*)")
CODE_SPAN = re.compile(r"`([^`\n]+)`")
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")
SOURCE_PATH = re.compile(r"(?<![\w/.-])((?:playlist2vec|batch|streaming|serving|deploy|tests|scripts)"
                         r"/[\w./-]*\w)")
LINK = re.compile(r"\]\(([^)\s]+)\)")
COMMAND_END = re.compile(r"`|&&|\|\||;| \| |\s#|\bplaylist2vec\b")
METRIC_CLASSES = {"Counter", "Gauge", "Histogram", "Summary", "Info", "Enum"}
HTTP_METHODS = {"get", "post", "put", "patch", "delete", "api_route"}


def text(page: Path) -> str:
    return page.read_text()


# ---- what the code defines ----------------------------------------------------------------


def settings_variables() -> set[str]:
    return {f"P2V_{name.upper()}" for name in Settings.model_fields}


@cache
def deploy_variables() -> set[str]:
    """Variables the deploy scripts and compose file read that are not settings (P2V_DATA_DIR ...)."""
    found: set[str] = set()
    for path in (ROOT / "deploy").rglob("*"):
        if path.is_file() and path.suffix in {".sh", ".yaml", ".yml", ""}:
            found |= set(DEPLOY_VARIABLE.findall(path.read_text(errors="replace")))
    return found


@cache
def command_options() -> dict[str, set[str]]:
    """'stack up' -> its flags (global flags included), for every leaf command; groups too."""
    root = typer.main.get_command(app)
    global_flags = {opt for p in root.params for opt in [*p.opts, *getattr(p, "secondary_opts", [])]}
    tree: dict[str, set[str]] = {}

    def walk(command: object, path: tuple[str, ...]) -> None:
        subs = getattr(command, "commands", None)
        if subs:
            tree[" ".join(path)] = set(global_flags)
            for name, sub in subs.items():
                walk(sub, (*path, name))
            return
        flags = {opt for p in command.params  # type: ignore[attr-defined]
                 for opt in [*p.opts, *getattr(p, "secondary_opts", [])] if opt.startswith("-")}
        tree[" ".join(path)] = flags | global_flags | {"--help"}

    walk(root, ())
    tree.pop("")
    return tree


@cache
def global_flags() -> frozenset[str]:
    """Built once: building typer's command tree takes ~0.2 s, and every mention asks."""
    return frozenset(opt for p in typer.main.get_command(app).params for opt in p.opts)


def groups() -> set[str]:
    tree = command_options()
    return {name for name in tree if any(other.startswith(name + " ") for other in tree)}


def leaf_commands() -> list[str]:
    return sorted(set(command_options()) - groups())


def source_files() -> Iterator[tuple[Path, ast.Module]]:
    for package in SOURCES:
        for path in sorted((ROOT / package).rglob("*.py")):
            yield path, ast.parse(path.read_text(), str(path))


@cache
def metrics() -> dict[str, str]:
    """Metric name as defined (counters with `_total`) -> its type, from every Counter(...),
    Gauge(...), Histogram(...) ... call (or a custom collector's, `StageHistogram(...)`) in the
    source packages whose name starts `p2v_`."""
    found: dict[str, str] = {}
    for _, tree in source_files():
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            func = node.func
            kind = func.id if isinstance(func, ast.Name) else func.attr if isinstance(
                func, ast.Attribute) else None
            first = node.args[0]
            # Counter(...), Histogram(...), and custom collectors named like them (StageHistogram)
            base = next((name for name in METRIC_CLASSES if kind and kind.endswith(name)), None)
            if base and isinstance(first, ast.Constant) and isinstance(
                    first.value, str) and first.value.startswith("p2v_"):
                found[first.value] = base
    return found


def metric_series() -> set[str]:
    """Every name a page may write: the metric, a counter's family without `_total`, and a
    histogram's `_bucket`, `_sum` and `_count` series."""
    series = set()
    for name, kind in metrics().items():
        series.add(name)
        if kind == "Counter":
            series.add(name.removesuffix("_total"))
        if kind in ("Histogram", "Summary"):
            series |= {name + suffix for suffix in ("_bucket", "_sum", "_count")}
    return series


def _string_value(node: ast.expr, constants: dict[str, str]) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name):
        return constants.get(node.id)
    return None


@cache
def routes() -> set[str]:
    """Route templates the FastAPI apps under serving/ declare (`@app.get("/...")` and the
    like, a module-level string constant resolved)."""
    found: set[str] = set()
    for path, tree in source_files():
        if path.parts[len(ROOT.parts)] != "serving":
            continue
        constants = {target.id: node.value.value for node in tree.body if isinstance(node, ast.Assign)
                     and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
                     for target in node.targets if isinstance(target, ast.Name)}
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in HTTP_METHODS | {"add_api_route"} and node.args):
                route = _string_value(node.args[0], constants)
                if route is not None and route.startswith("/"):
                    found.add(route)
    return found


def framework_routes() -> set[str]:
    """What FastAPI adds to every app (the OpenAPI document and its viewers)."""
    return {route.path for route in FastAPI().routes}  # type: ignore[attr-defined]


def route_pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]*\})", template)
    regex = "".join((".+" if part.endswith(":path}") else "[^/]+") if part.startswith("{")
                    else re.escape(part) for part in parts)
    return re.compile(regex)


def matches(path: str, template: str) -> bool:
    return route_pattern(template).fullmatch(path) is not None


# ---- what the pages name -----------------------------------------------------------------


def mentioned_commands(page_text: str) -> Iterator[tuple[str, str, set[str]]]:
    """(words after `playlist2vec`, the command they name or '' , flags written with it)."""
    tree = command_options()
    top = {name.split()[0] for name in tree}
    lines = page_text.splitlines()
    for line in lines:
        for match in COMMAND.finditer(line):
            rest = line[match.start(1):]
            end = COMMAND_END.search(rest)
            segment = rest[: end.start()] if end else rest
            words = segment.split()
            while words and words[0] in global_flags():
                words = words[2:] if "=" not in words[0] else words[1:]  # a global flag and its value
            if not words or not re.fullmatch(r"[a-z][a-z-]*", words[0]):
                continue
            yield " ".join(words[:2]), resolve(words, tree, top), set(FLAG.findall(segment))
        for span in CODE_SPAN.findall(line):
            head = span.split("&&")[0]
            words = head.split()
            if words and words[0] in top and any(w.startswith("--") for w in words):
                command = resolve(words, tree, top)
                if command:
                    yield " ".join(words[:2]), command, set(FLAG.findall(head))


def resolve(words: list[str], tree: dict[str, set[str]], top: set[str]) -> str:
    """The command `words` starts with ('' if none)."""
    if words[0] not in top:
        return ""
    if words[0] in groups():
        sub = f"{words[0]} {words[1]}" if len(words) > 1 else ""
        return sub if sub in tree else ""
    return words[0]


def mentioned_routes(page_text: str) -> set[str]:
    return {path.rstrip(".") for path in ROUTE.findall(page_text)}


def mentioned_metrics(page_text: str) -> set[str]:
    return set(METRIC.findall(page_text))


# ---- the checks --------------------------------------------------------------------------


def test_the_extractors_find_the_code() -> None:
    assert {"stack up", "train", "serve", "route", "bench stream"} <= set(command_options())
    assert "--brokers" in command_options()["stack up"] and "--home" in command_options()["train"]
    assert {"p2v_http_requests_total", "p2v_stream_events_total", "p2v_probe_failures_total",
            "p2v_router_partial_answers_total", "p2v_batch_last_run_success"} <= set(metrics())
    assert metrics()["p2v_freshness_seconds"] == "Histogram"
    assert {"/v1/playlists/{pid}/similar", "/v1/tracks/{track_uri:path}/similar", "/healthz",
            "/v1/admin/rebuild"} <= routes()
    assert "P2V_DATA_DIR" in deploy_variables() and "P2V_HTTP_ADDR" in settings_variables()


def test_the_checkers_reject_what_does_not_exist() -> None:
    page = ("run `playlist2vec stack upp` then `playlist2vec serve --shards 2` and "
            "`playlist2vec --home /x train --input d` and `bench serve --item 3`\n")
    found = list(mentioned_commands(page))
    assert ("stack upp", "", set()) in found
    assert ("serve --shards", "serve", {"--shards"}) in found
    assert ("train --input", "train", {"--home", "--input"}) in found
    assert ("bench serve", "bench serve", {"--item"}) in found
    assert mentioned_metrics("`p2v_http_requests_total{code=~\"5..\"}`, p2v_job.py, p2v_batch_*") \
        == {"p2v_http_requests_total", "p2v_batch_*"}
    assert mentioned_routes("GET /v1/playlists/{pid}/similar?k=10 and 127.0.0.1:9108/metrics") \
        == {"/v1/playlists/{pid}/similar"}
    assert SOURCE_PATH.findall("`batch/metricz.py`, deploy/mongo/ and p/batch/x.py") == [
        "batch/metricz.py", "deploy/mongo"]
    assert matches("/v1/tracks/{uri}/similar", "/v1/tracks/{track_uri:path}/similar")
    assert not matches("/v1/playlist/{pid}/similar", "/v1/playlists/{pid}/similar")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_pages_name_only_existing_commands_and_flags(page: Path) -> None:
    tree = command_options()
    for written, command, flags in mentioned_commands(text(page)):
        assert command, f"{page.name}: `playlist2vec {written}` is not a command"
        unknown = flags - tree[command]
        assert not unknown, f"{page.name}: `{command}` has no flag(s) {sorted(unknown)}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_pages_name_only_existing_settings(page: Path) -> None:
    known = settings_variables() | deploy_variables()
    unknown = set(SETTING.findall(text(page))) - known
    assert not unknown, f"{page.name}: no such setting {sorted(unknown)}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_pages_name_only_existing_routes(page: Path) -> None:
    templates = routes() | framework_routes()
    for path in mentioned_routes(text(page)):
        assert any(matches(path, t) for t in templates), f"{page.name}: no route {path}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_pages_name_only_existing_metrics(page: Path) -> None:
    series = metric_series()
    for name in mentioned_metrics(text(page)):
        if name.endswith(("*", "_")):  # a prefix: `p2v_batch_*`
            assert any(s.startswith(name.rstrip("*")) for s in series), f"{page.name}: no metric {name}"
        else:
            assert name in series, f"{page.name}: no metric {name}"


@pytest.mark.parametrize("name", sorted(Settings.model_fields))
def test_every_setting_is_in_the_configuration_table(name: str) -> None:
    assert f"| `P2V_{name.upper()}` |" in text(README)


def written_default(value: object) -> set[str]:
    """How the configuration table may write a default."""
    if value is None:
        return {"(unset)"}
    if hasattr(value, "get_secret_value"):
        value = value.get_secret_value()
    if isinstance(value, bool):
        return {str(value).lower()}
    if isinstance(value, Path):
        return {str(value), f"./{value}"}
    if isinstance(value, float):
        return {str(value), f"{value:g}"}
    return {str(value)}


@pytest.mark.parametrize("name", sorted(Settings.model_fields))
def test_the_configuration_table_gives_the_code_s_default(name: str) -> None:
    row = re.search(rf"^\| `P2V_{name.upper()}` \| (`([^`]*)`|\(unset\))", text(README), re.M)
    assert row, f"README: no configuration row for P2V_{name.upper()}"
    written = row.group(2) if row.group(2) is not None else row.group(1)
    assert written in written_default(Settings.model_fields[name].default)


@pytest.mark.parametrize("command", leaf_commands())
def test_every_command_is_in_the_readme(command: str) -> None:
    assert f"playlist2vec {command}" in text(README)


def test_the_architecture_names_every_setting_route_and_metric() -> None:
    page = text(ARCHITECTURE)
    missing = sorted(settings_variables() - set(SETTING.findall(page)))
    assert not missing, f"docs/architecture.md does not name the settings {missing}"
    written = mentioned_routes(page)
    missing = sorted(t for t in routes() if not any(matches(path, t) for path in written))
    assert not missing, f"docs/architecture.md does not name the routes {missing}"
    missing = sorted(set(metrics()) - mentioned_metrics(page))
    assert not missing, f"docs/architecture.md does not name the metrics {missing}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_pages_name_only_existing_files(page: Path) -> None:
    missing = sorted({path for path in SOURCE_PATH.findall(text(page)) if not (ROOT / path).exists()})
    assert not missing, f"{page.name}: no such file or folder {missing}"


def anchors(page: Path) -> set[str]:
    """GitHub's anchors of a page's headings (lower case, punctuation dropped, spaces to -)."""
    headings = re.findall(r"^#+ (.+)$", text(page), re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_links_between_pages_lead_somewhere(page: Path) -> None:
    for link in LINK.findall(text(page)):
        if "://" in link or link.startswith("mailto:"):
            continue
        target, _, anchor = link.partition("#")
        path = (page.parent / target).resolve() if target else page
        assert path.exists(), f"{page.name}: link to missing {target}"
        if anchor and path.suffix == ".md":
            assert anchor in anchors(path), f"{page.name}: {target or page.name} has no #{anchor}"

