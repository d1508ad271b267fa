"""The web demo end to end in headless Chromium (Debian's /usr/bin/chromium driven by Playwright).

Skipped when Chromium or Playwright is absent. The comparison with ``echoseg measure`` on shipped
weights is skipped until the weights are installed; the other test runs the same page on the
synthetic-truth stand-in models of test_web.py.

Screenshot for the docs: ``.venv/bin/python tests/test_web_browser.py docs/images/web_demo.png``.
"""
from __future__ import annotations

import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]

pytest.importorskip("fastapi")
pytest.importorskip("multipart")
pytest.importorskip("torch")
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
if not CHROMIUM.exists():
    pytest.skip(f"Chromium is not installed at {CHROMIUM} (apt-get install -y chromium)", allow_module_level=True)

import uvicorn  # noqa: E402

from echoseg.options import Models
from echoseg.pipeline import measure_file
from echoseg.synth.dataset import write_dataset  # noqa: E402
from echoseg.web import app as web

from tests.oracle_models import SEED, OracleModels  # noqa: E402


@contextmanager
def running(models: Models) -> Iterator[str]:
    """The demo served by uvicorn in a thread on a free local port; yields its URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(web.create_app(models), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"the demo server did not start on port {port}")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@contextmanager
def browser_page(width: int = 1280, height: int = 900) -> Iterator[object]:
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.set_default_timeout(60_000)
            yield page
        finally:
            browser.close()


def upload(page, paths: list[Path]) -> None:
    page.set_input_files("#file-input", [str(p) for p in paths])
    page.click("#upload-btn")
    page.wait_for_selector(f"article.card >> nth={len(paths) - 1}")


def shown(page, name: str, task: str) -> str:
    return page.locator(f'article[data-name$="{name}"] .m[data-task="{task}"] [data-role="value"]').inner_text()


def expected_text(value: float | None, qc: str) -> str:
    return f"{value:.2f}" if qc == "pass" and value is not None else "refused"


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("browser_study")
    write_dataset(out, "study", 1, SEED, jpeg_fraction=0.0)
    return out


def test_upload_edit_and_download_in_the_browser(study, tmp_path):
    models = OracleModels(study)
    a4c, lvot = study / f"study{SEED * 1000:06d}_a4c.dcm", study / f"study{SEED * 1000:06d}_lvot.dcm"
    expected = {t: measure_file(f, models) for t, f in (("a4c", a4c), ("lvot", lvot))}
    errors: list[str] = []
    with running(models) as url, browser_page() as page:
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.goto(url)
        assert "Research use only. Not a medical device" in page.inner_text("#disclaimer")
        upload(page, [a4c, lvot])
        for m in (*expected["a4c"].measurements, *expected["lvot"].measurements):
            name = a4c.name if m.task.endswith("_area") else lvot.name
            assert shown(page, name, m.task) == expected_text(m.value, m.qc)
        # frame slider: another frame gives another area and marks the value edited
        la_before = shown(page, a4c.name, "la_area")
        slider = page.locator('input[type=range][data-task="la_area"]')
        slider.evaluate("(el) => { el.value = 2; el.dispatchEvent(new Event('input', {bubbles: true})); }")
        page.wait_for_selector('article[data-name$="_a4c.dcm"] .m[data-task="la_area"] .badge.edited')
        assert shown(page, a4c.name, "la_area") != la_before
        # beat checkbox: excluding beat 1 gives the mean of the other complete beats
        beats = expected["lvot"].beats["lvot_vti"]
        rest = [b.vti_cm for b in beats if b.complete][1:]
        page.locator('table.beats input[data-beat]:not([disabled])').first.uncheck()
        page.wait_for_selector('article[data-name$="_lvot.dcm"] .badge.edited')
        assert shown(page, lvot.name, "lvot_vti") == f"{np.mean(rest):.2f}"
        # diameters -> stroke volume in the study table
        page.fill("#lvot-d", "2.0")
        page.press("#lvot-d", "Enter")
        page.locator("#lvot-d").blur()
        page.wait_for_selector('#study-table td[data-key="stroke_volume_ml"]')
        # downloads carry the edit
        with page.expect_download() as dl:
            page.click('#downloads a:text("measurements.csv")')
        text = Path(dl.value.path()).read_text()
        assert "edited" in text.splitlines()[0] and ",yes" in text
        # a bad upload shows its reason and the page keeps working
        bad = tmp_path / "notes.txt"
        bad.write_text("not an echo")
        upload(page, [bad])
        assert "unsupported file type" in page.locator('article[data-name="notes.txt"] .error-box').inner_text()
        page.screenshot(path=str(tmp_path / "web_demo.png"), full_page=True)
    assert errors == []
    assert (tmp_path / "web_demo.png").stat().st_size > 50_000


def test_displayed_values_equal_echoseg_measure_with_shipped_weights(study):
    from echoseg.models.registry import WEIGHTS_FILE, shipped_dir

    missing = [n for n in ("atria", "doppler") if not (shipped_dir(n) / WEIGHTS_FILE).exists()]
    if missing:
        pytest.skip(f"shipped weights not installed yet ({', '.join(missing)} missing under "
                    f"{shipped_dir('atria').parent})")
    files = [study / f"study{SEED * 1000:06d}_{k}.dcm" for k in ("a4c", "mv", "lvot")]
    models = Models()
    expected = {f.name: measure_file(f, models) for f in files}
    with running(Models()) as url, browser_page() as page:
        page.goto(url)
        upload(page, files)
        for name, result in expected.items():
            assert result.error is None, result.error
            for m in result.measurements:
                assert shown(page, name, m.task) == expected_text(m.value, m.qc), (name, m.task, m.value, m.reason)


def screenshot(out: Path, seed: int = SEED, full_page: bool = False) -> str:
    """Load the synthetic example in the page, edit nothing, and save a full-page screenshot to ``out``."""
    import tempfile

    from echoseg.models.registry import WEIGHTS_FILE, shipped_dir

    shipped = all((shipped_dir(n) / WEIGHTS_FILE).exists() for n in ("atria", "doppler"))
    with tempfile.TemporaryDirectory() as tmp:
        if not shipped:
            write_dataset(tmp, "study", 1, seed, jpeg_fraction=0.0)
        models = Models() if shipped else OracleModels(Path(tmp), smooth=True)
        with running(models) as url, browser_page(1280, 900) as page:
            page.goto(url)
            page.fill("#seed", str(seed))
            page.click("#example-btn")
            page.wait_for_selector("article.card >> nth=5")
            page.fill("#lvot-d", "2.1")
            page.fill("#rvot-d", "2.4")
            page.locator("#rvot-d").dispatch_event("change")
            page.wait_for_selector('#study-table td')
            page.wait_for_load_state("networkidle")
            out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(out), full_page=full_page)
    return "shipped weights" if shipped else "synthetic-truth stand-in models (shipped weights not installed)"


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/images/web_demo.png")
    print(f"wrote {target} using {screenshot(target)}")
