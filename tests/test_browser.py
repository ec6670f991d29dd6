"""The course as learners meet it: JupyterLab in a real browser.

``make lab`` starts JupyterLab on localhost; headless Chromium (Debian's package, driven by
Playwright, whose own browser download is never used) opens notebook 06, runs every cell, waits for the game
board's widgets to render, clicks the map (a pin) and Guess, and checks that the board answered both. A screenshot lands in
``outputs/browser/``. The test skips, saying why, only where no Chromium or Playwright is installed
(``make test`` installs both where it can).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from geolib.course import notebooks_dir

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = "06_inference_and_evaluation.ipynb"
SHOTS = REPO / "outputs" / "browser"
# A private JupyterLab settings folder: no autosave (the course's notebook stays clean), every cell rendered
# (not only those in view, so that the widgets can be found), no question about fetching news.
LAB_SETTINGS = {
    "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false"},
}
# Chromium as the machine's probe starts it: no background connections, which a closed network refuses.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


# JavaScript run in the page: is the notebook's kernel connected and idle; has its first code cell run?
READY = """() => {
    const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
    const session = panel && panel.sessionContext;
    return !!(session && session.isReady && session.session && session.session.kernel
              && session.session.kernel.connectionStatus === 'connected' && session.session.kernel.status === 'idle');
}"""
STARTED = """() => {
    const prompt = document.querySelector('.jp-CodeCell .jp-InputArea-prompt');
    return !!prompt && /\\[(\\*|\\d+)\\]/.test(prompt.textContent);
}"""
DONE = """() => {
    const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')];
    return prompts.length > 0 && prompts.every((prompt) => /\\[\\d+\\]/.test(prompt.textContent));
}"""


def _chromium() -> str | None:
    for name in (os.environ.get("GEOLIB_CHROMIUM"), "chromium", "chromium-browser"):
        if name and (found := shutil.which(name)):
            return found
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def chromium() -> str:
    found = _chromium()
    if found is None:
        pytest.skip("no Chromium here (make test installs Debian's chromium where apt-get runs as root)")
    return found


@pytest.fixture
def jupyterlab(chromium, tmp_path):
    """JupyterLab started by the README's own command, ``make lab``, on localhost; yields its address and token.
    Autosave is switched off in a private settings folder, and the test checks that the course's notebook is
    byte for byte what it was."""
    port, token = _free_port(), "geolib-browser-test"
    for plugin, setting in LAB_SETTINGS.items():
        path = tmp_path / "lab-settings" / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(setting))
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
        "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "lab-settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces"),
    }
    lab_args = " ".join(
        [
            "--no-browser",
            f"--port={port}",
            "--ip=127.0.0.1",
            f"--IdentityProvider.token={token}",
            "--LabApp.expose_app_in_browser=True",  # window.jupyterapp: run all cells with the app's own command
            "--LabApp.news_url=",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ]
    )
    notebook = notebooks_dir() / NOTEBOOK
    before = notebook.read_bytes()
    log_path = tmp_path / "jupyterlab.log"
    log = log_path.open("w")
    server = subprocess.Popen(
        ["make", "-s", "lab", f"LAB_ARGS={lab_args}"],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # make's child, jupyter, is stopped with it
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"make lab did not start JupyterLab:\n{log_path.read_text()[-3000:]}")
                time.sleep(0.5)
        yield base, token
    finally:
        with contextlib.suppress(ProcessLookupError):  # make may have stopped already
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
        log.close()
        after = notebook.read_bytes()
        if after != before:
            notebook.write_bytes(before)
            pytest.fail(f"JupyterLab wrote to {notebook} (restored)")


def test_widget_notebook_runs_renders_and_answers_a_click_in_chromium(chromium, jupyterlab):
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed (pip install -e .[test])"
    )
    base, token = jupyterlab
    SHOTS.mkdir(parents=True, exist_ok=True)
    (SHOTS / "06_failure.png").unlink(missing_ok=True)
    with sync_api.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            page.goto(f"{base}/lab/tree/{NOTEBOOK}?token={token}", wait_until="domcontentloaded")
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
            page.wait_for_function(
                "() => window.jupyterapp && document.querySelector('.jp-Notebook') !== null", timeout=60_000
            )
            # "Run all" before the notebook's kernel session is ready does nothing: wait for the session, then
            # for the first cell to start, issuing the command again if the first went nowhere.
            page.wait_for_function(READY, timeout=180_000)
            for attempt in range(3):
                page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
                try:
                    page.wait_for_function(STARTED, timeout=30_000)
                    break
                except sync_api.TimeoutError:
                    if attempt == 2:
                        raise
            guess = page.locator(".jupyter-widgets button.jupyter-button", has_text="Guess").first
            guess.wait_for(state="attached", timeout=300_000)
            guess.scroll_into_view_if_needed()
            guess.wait_for(state="visible", timeout=30_000)
            board = guess.locator("xpath=ancestor::div[contains(@class, 'widget-vbox')][last()]")
            assert board.locator(".leaflet-container").count() >= 1, "the game board's map did not render"
            assert board.locator("select").count() >= 1, "the country dropdown did not render"
            assert page.locator("text=Error displaying widget").count() == 0

            board.locator(".leaflet-container").first.click()  # a pin, through ipyleaflet's click event
            board.locator("text=pin at").wait_for(state="visible", timeout=30_000)
            guess.click()
            answer = board.locator("text=It was")
            answer.wait_for(state="visible", timeout=60_000)
            text = board.inner_text()
            assert "points" in text and "player" in text, text  # the round's scores and the leaderboard
            board.screenshot(path=str(SHOTS / "06_game_board.png"))
            page.wait_for_function(DONE, timeout=300_000)
            errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
            tracebacks = [
                e for e in errors.all_inner_texts() if "Traceback" in e or "Error" in e.split("\n")[0]
            ]
            assert not tracebacks, tracebacks[:1]
        except Exception:
            page.screenshot(path=str(SHOTS / "06_failure.png"), full_page=True)
            raise
        finally:
            browser.close()
