"""The report in headless Chromium, with the network disabled: it renders the map with its
markers and the charts, logs no console error and sends no request off the machine."""

from __future__ import annotations

import os
import shutil
import subprocess
import zlib
from pathlib import Path

import pytest

from optiserv.scenario import load_scenario
from optiserv.scenario.outputs import write_run
from optiserv.scenario.runner import run_scenario

EXAMPLES = Path(__file__).resolve().parents[1] / "scenarios" / "examples"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--proxy-server=http://127.0.0.1:9",  # a dead local port: any request would fail
    "--proxy-bypass-list=<-loopback>",
    "--virtual-time-budget=8000",
    "--enable-logging=stderr",
    "--v=0",
]


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    if os.path.exists("/usr/bin/chromium"):
        return "/usr/bin/chromium"
    pytest.skip(
        "Chromium is not installed and could not be installed here (make test installs "
        "Debian's chromium package when apt-get works)"
    )


def browse(page: Path, profile: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [chromium(), *FLAGS, f"--user-data-dir={profile}", *extra, page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )


def png_colours(path: Path) -> int:
    """Distinct pixel values in a PNG (8-bit RGB or RGBA, non-interlaced), read with zlib."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, chunks, header = 8, [], b""
    while position < len(data):
        length = int.from_bytes(data[position : position + 4], "big")
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            chunks.append(body)
        position += 12 + length
    width, height = int.from_bytes(header[:4], "big"), int.from_bytes(header[4:8], "big")
    channels = {2: 3, 6: 4}[header[9]]
    raw = zlib.decompress(b"".join(chunks))
    stride = width * channels + 1
    sample = {raw[row * stride + 1 : (row + 1) * stride] for row in range(0, height, 7)}
    pixels = set()
    for line in sample:
        pixels.update(line[k : k + channels] for k in range(0, len(line), channels * 5))
    return len(pixels)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("browser-run")
    write_run(run_scenario(load_scenario(EXAMPLES / "closure.yaml")), folder)
    return folder / "report.html"


def test_report_renders_offline_with_map_and_charts(report: Path, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    process = browse(
        report, tmp_path / "profile-shot", "--window-size=1280,2600", f"--screenshot={shot}"
    )
    assert shot.is_file(), process.stderr[-2000:]
    assert shot.stat().st_size > 50_000
    assert png_colours(shot) > 50  # a map, markers and charts, not a blank page
    console = [
        line for line in process.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line
    ]
    assert not [line for line in console if "error" in line.lower()], console


def test_report_dom_has_the_plots_and_no_request_leaves(report: Path, tmp_path: Path) -> None:
    process = browse(report, tmp_path / "profile-dom", "--dump-dom")
    dom = process.stdout
    assert 'class="main-svg"' in dom  # plotly drew its figures, so its code ran inline
    assert dom.count('class="plot-container plotly"') >= 3  # map, coverage, bands
    assert "scatterlayer" in dom and "point" in dom  # markers on the map
    assert "ERR_PROXY_CONNECTION_FAILED" not in process.stderr  # nothing tried to go out
    assert "Uncaught" not in process.stderr
