"""``vabatch annotate serve``: the review page in Debian's headless chromium (Selenium), and
its guard (token, Host, Origin) through a plain HTTP client, on a video made and processed
here."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from testkit.corpus import Caption, VideoSpec, make_video
from vabatch.api import run_video
from vabatch.db import VideoDatabase
from vabatch.media import Sampling
from vabatch.stages.ingest import IngestOptions, ingest_file
from vabatch.tools.annotate.edits import CaptionEditor

ROOT = Path(__file__).resolve().parent.parent
KNOWN = [
    Caption(300, 1500, "The river town at morning"),
    Caption(1500, 2800, "We never thought about it"),
    Caption(3200, 4600, "Nobody knew where it ended"),
]


@pytest.fixture(scope="module")
def processed(tmp_path_factory):
    """One 5 s video at 25 fps, ingested (2 full frames a second) and run through every
    stage: 3 captions, OCR boxes on the frames that show them."""
    media = tmp_path_factory.mktemp("serve-media")
    data_root = tmp_path_factory.mktemp("serve-data")
    spec = VideoSpec("review", KNOWN, 5, width=480, height=270, fps=25,
                     background="gradients", font_size=22, seed=3)
    video, _ = make_video(spec, media)
    ingested = ingest_file(video, data_root, IngestOptions(Sampling("fps", 2.0)))
    video_dir = Path(ingested.video_dir)
    result = run_video(video_dir, data_root)
    assert result.ok, result.error
    # a second video, only ingested: the page starts on the list of both
    from testkit.videos import make_video as make_plain_video

    plain = ingest_file(make_plain_video(media / "plain.mp4", seconds=1.0), data_root,
                        IngestOptions(Sampling("every", 5)))
    assert plain.status == "ingested", plain.error
    return data_root, video_dir, Path(plain.video_dir)


class Server:
    """``vabatch annotate serve --port 0`` in a child process; its printed URL."""

    def __init__(self, data_root: Path) -> None:
        env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "vabatch", "annotate", "serve", "--data", str(data_root),
             "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=env)
        line = self.process.stdout.readline()
        if "review page: " not in line:
            self.process.kill()
            raise AssertionError(f"no URL printed: {line!r} {self.process.stderr.read()}")
        self.url = line.split("review page: ", 1)[1].strip()
        parts = urlsplit(self.url)
        self.netloc = parts.netloc
        self.token = parts.query.removeprefix("token=")

    def stop(self) -> None:
        """Ctrl+C: the server ends cleanly (exit 0, no traceback)."""
        self.process.send_signal(signal.SIGINT)
        try:
            code = self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise
        rest, errors = self.process.stdout.read(), self.process.stderr.read()
        self.process.stdout.close()
        self.process.stderr.close()
        assert code == 0 and "review page stopped" in rest, (code, rest, errors)
        assert "Traceback" not in errors, errors


@pytest.fixture(scope="module")
def server(processed):
    running = Server(processed[0])
    yield running
    running.stop()


def request(server: Server, method: str, path: str, headers: dict | None = None,
            body: bytes | None = None) -> tuple[int, dict, bytes]:
    host, port = server.netloc.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    answer = response.status, dict(response.getheaders()), response.read()
    conn.close()
    return answer


def test_requests_without_the_token_or_from_elsewhere_are_refused(server, processed):
    video = processed[1].name
    token = {"X-Vabatch-Token": server.token}
    edit = f"/api/v/{video}/edit"
    undo = b'{"op": "undo"}'
    assert request(server, "GET", f"/api/v/{video}")[0] == 403
    assert request(server, "GET", f"/api/v/{video}?token=wrong{server.token}")[0] == 403
    assert request(server, "GET", f"/api/v/{video}", token)[0] == 200
    # DNS rebinding: a name that resolves here, but not this server's own address
    assert request(server, "GET", f"/api/v/{video}", {**token, "Host": "evil.example"})[0] \
        == 403
    # a change needs this server's own Origin, also with the token
    own = {**token, "Origin": f"http://{server.netloc}"}
    assert request(server, "POST", edit, token, undo)[0] == 403
    assert request(server, "POST", edit, {**token, "Origin": "http://evil.example"},
                   undo)[0] == 403
    assert request(server, "POST", edit, {**own, "Origin": "null"}, undo)[0] == 403
    status, _, body = request(server, "POST", edit, own, undo)
    assert (status, body) == (400, b'{"error":"nothing to undo"}')  # past the guard
    # the token in the URL once, then an HttpOnly SameSite=Strict cookie without it
    status, headers, _ = request(server, "GET", f"/?token={server.token}")
    cookie = headers["set-cookie"]
    assert status == 303 and headers["location"] == "/"
    status, headers, _ = request(server, "GET", f"//evil.example/?token={server.token}")
    assert status == 303 and headers["location"] == "/evil.example/"  # stays on this server
    assert "HttpOnly" in cookie and "samesite=strict" in cookie.lower()
    assert request(server, "GET", f"/api/v/{video}",
                   {"Cookie": cookie.split(";")[0]})[0] == 200
    assert request(server, "GET", f"/api/v/{video}/band/99999", token)[0] == 400
    assert request(server, "GET", "/api/v/0123456789abcdef", token)[0] == 400  # not served
    # the list of videos; one only ingested shows no captions and no band yet
    status, _, page = request(server, "GET", "/", token)
    plain = processed[2].name
    assert status == 200 and f'href="/v/{video}"' in page.decode()
    assert f'href="/v/{plain}"' in page.decode()
    status, _, body = request(server, "GET", f"/api/v/{plain}", token)
    assert status == 200 and json.loads(body)["captions"] == []
    assert request(server, "GET", f"/api/v/{plain}/band/3", token)[0] == 404
    assert not (processed[2] / "captions.db").exists()  # reading writes nothing


def test_a_frame_reached_by_seeking_is_the_frame_counted_from_the_start(processed,
                                                                        monkeypatch):
    """The band at frame N is the same image whether the decoder counted N frames from the
    first one or sought by time and named the frames by the crop stage's recorded times."""
    import dataclasses

    from vabatch.tools.annotate import review

    video_dir = processed[1]
    facts = review.video_facts(video_dir)
    assert facts.own_timestamps and facts.source_file is not None
    monkeypatch.setattr(review, "STREAM_AHEAD", 5)  # this short video: seek past frame 5
    monkeypatch.setattr(review, "SEEK_MARGIN_MS", 300)
    counted = review.BandFrames(video_dir, dataclasses.replace(facts, own_timestamps=False))
    sought = review.BandFrames(video_dir, facts)
    seeks = []
    seek = sought._seek
    sought._seek = lambda first: seeks.append(seek(first)) or seeks[-1]
    frames = [88, 79, 80, 90, 100, 30]  # far from the start, then back: a seek each time
    assert [sought.image(n) for n in frames] == [counted.image(n) for n in frames]
    assert seeks == [True, True], "a seek did not land on a frame named by its time"
    # without the video: the band's text mask of that very frame
    facts_without = dataclasses.replace(facts, source_file=None)
    masks = review.BandFrames(video_dir, facts_without)
    assert review.image_type(masks.image(50)) == "image/png"
    assert masks.image(50) != masks.image(5)  # a caption's text, and an empty band


def test_serve_without_videos_or_on_a_taken_port_is_one_clear_error(processed, tmp_path):
    import socket

    from typer.testing import CliRunner

    from vabatch.cli import app

    runner = CliRunner()
    empty = tmp_path / "empty"
    (empty / "videos").mkdir(parents=True)
    result = runner.invoke(app, ["annotate", "serve", "--data", str(empty)])
    assert result.exit_code == 2 and "no videos to review" in result.output
    assert "Traceback" not in result.output
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = runner.invoke(app, ["annotate", "serve", "--data", str(processed[0]),
                                     "--port", str(port)])
    assert result.exit_code == 2 and f"cannot listen on 127.0.0.1:{port}" in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output


def shown_captions(video_dir: Path) -> list[tuple]:
    with CaptionEditor(video_dir) as editor:
        return [(c.start_frame_index, c.end_frame_index, c.text, c.source)
                for c in editor.captions()]


def box_labels(video_dir: Path) -> dict:
    with VideoDatabase(video_dir, require=("layout",)) as db:
        return {(f, b): (label, source) for f, b, label, source in db.execute(
            "SELECT frame_index, box_index, label, label_source FROM"
            " layout.full_frame_box_labels")}


@pytest.fixture
def browser():
    missing = [name for name in ("chromium", "chromedriver") if shutil.which(name) is None]
    if missing:
        pytest.skip(f"{' and '.join(missing)} not installed (Debian packages chromium and "
                    "chromium-driver; scripts/install-system-deps.sh installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--window-size=1400,1000"):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options,
                              service=Service(shutil.which("chromedriver")))
    yield driver
    driver.quit()


class Page:
    """The review page in the browser: keys go where a person's would, and each edit is
    awaited (the page counts its reloads in body[data-version])."""

    def __init__(self, driver, url: str, video: str) -> None:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait

        self.driver, self.by = driver, By
        self.wait = WebDriverWait(driver, 30)  # a loaded CI machine
        driver.get(url)  # the list of videos: open one
        driver.find_element(By.CSS_SELECTOR, f"#videos a[href='/v/{video}']").click()
        self.version = 0
        self.loaded()

    def loaded(self) -> None:
        from selenium.common.exceptions import TimeoutException

        body = self.driver.find_element(self.by.TAG_NAME, "body")
        try:
            self.wait.until(lambda _: int(body.get_attribute("data-version")) > self.version)
        except TimeoutException:
            raise AssertionError(
                "the page did not reload; status: "
                f"{self.driver.find_element(self.by.ID, 'status').text!r}; browser log: "
                f"{self.driver.get_log('browser')}") from None
        self.version = int(body.get_attribute("data-version"))
        problem = self.driver.find_element(self.by.ID, "status")
        assert "error" not in (problem.get_attribute("class") or ""), problem.text

    def keys(self, *keys, edit: bool = False) -> None:
        from selenium.webdriver.common.action_chains import ActionChains

        ActionChains(self.driver).send_keys(*keys).perform()
        if edit:
            self.loaded()

    def chord(self, modifier: str, key: str, edit: bool = False) -> None:
        from selenium.webdriver.common.action_chains import ActionChains

        ActionChains(self.driver).key_down(modifier).send_keys(key).key_up(modifier).perform()
        if edit:
            self.loaded()

    def shown_frame(self) -> int:
        return int(self.driver.find_element(self.by.ID, "cursor-frame").text)


def test_a_person_corrects_a_video_with_the_keyboard(server, processed, browser):
    from selenium.webdriver.common.keys import Keys

    started = time.monotonic()
    video_dir = processed[1]
    before = shown_captions(video_dir)
    assert [c[:2] for c in before] == [(8, 38), (38, 70), (80, 115)], before
    page = Page(browser, server.url, video_dir.name)
    rows = browser.find_elements(page.by.CSS_SELECTOR, "#captions tbody tr")
    assert [r.find_element(page.by.CLASS_NAME, "text").text for r in rows] == \
        [c[2] for c in before]

    # fix the first caption's text: Enter edits, Enter saves
    page.keys(Keys.ENTER)
    page.chord(Keys.CONTROL, "a")  # in the text box: select all of it
    page.keys("The river town at dawn", Keys.ENTER, edit=True)
    assert shown_captions(video_dir)[0] == (8, 38, "The river town at dawn", "human")
    # its end one frame earlier: End shows its last frame (37), Left 36, ] ends it there
    page.keys(Keys.END, Keys.ARROW_LEFT)
    assert page.shown_frame() == 36
    page.keys("]", edit=True)
    assert shown_captions(video_dir)[0] == (8, 37, "The river town at dawn", "human")

    # split the second at frame 48, then merge the parts again
    page.keys(Keys.ARROW_DOWN)
    page.chord(Keys.SHIFT, Keys.ARROW_RIGHT)
    assert page.shown_frame() == 48
    page.keys("s", edit=True)
    assert [c[:2] for c in shown_captions(video_dir)[1:3]] == [(38, 48), (48, 70)]
    page.keys("m", edit=True)
    assert [c[:3] for c in shown_captions(video_dir)[1:]] == \
        [(38, 70, "We never thought about it"), (80, 115, "Nobody knew where it ended")]

    # delete the third, undo (Ctrl+Z), delete it again
    page.keys(Keys.ARROW_DOWN, Keys.DELETE, edit=True)
    assert len(shown_captions(video_dir)) == 2
    page.chord(Keys.CONTROL, "z", edit=True)
    assert shown_captions(video_dir)[2][:2] == (80, 115)
    page.keys(Keys.ARROW_DOWN, Keys.DELETE, edit=True)
    assert len(shown_captions(video_dir)) == 2

    # add a missed caption from the shown frame (80) for a second (25 frames)
    page.keys(Keys.END)
    page.keys("a")
    page.keys("A missed caption", Keys.ENTER, edit=True)
    added = shown_captions(video_dir)[2]
    assert added == (page.shown_frame(), page.shown_frame() + 25, "A missed caption", "human")

    # label an OCR box: the sampled frame 50 shows the second caption's box
    page.keys(Keys.ARROW_UP, Keys.PAGE_DOWN)
    assert browser.find_element(page.by.ID, "full-frame-index").text == "50"
    box = page.wait.until(lambda d: d.find_element(page.by.CSS_SELECTOR,
                                                   "#frame-view .box[data-box='0']"))
    assert box_labels(video_dir)[(50, 0)] == ("caption", "model")
    box.click()
    page.loaded()
    assert box_labels(video_dir)[(50, 0)] == ("noise", "human")

    # reload: the page shows what the databases hold
    browser.refresh()
    page.version = 0
    page.loaded()
    rows = browser.find_elements(page.by.CSS_SELECTOR, "#captions tbody tr")
    assert [(int(r.find_element(page.by.CLASS_NAME, "start").text),
             int(r.find_element(page.by.CLASS_NAME, "end").text),
             r.find_element(page.by.CLASS_NAME, "text").text) for r in rows] == \
        [c[:3] for c in shown_captions(video_dir)]
    assert time.monotonic() - started < 60
