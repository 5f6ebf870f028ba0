"""Synthetic videos with burned-in captions and known ground truth.

Captions are written as SRT and burned in with ffmpeg's ``subtitles`` filter (libass), the
way users' videos get them; distractors (a static logo, a scrolling ticker, scene text)
are drawn with ``drawtext``. Backgrounds are ffmpeg lavfi sources or a synthetic
"photo" panned across the frame. Everything is deterministic for a given spec: the same
spec renders the same frames on every run (tests/test_looks.py checks each background).

Used by the tests (small videos) and by ``bench/extract_bench.py`` (the corpus).
"""

from __future__ import annotations

import math
import random
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

DEJAVU_BOLD = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
DEJAVU = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
HEADLINE_SECONDS = 3
HEADLINES = ("MARKETS RALLY AS RATES HOLD", "STORM WARNING FOR THE COAST",
             "LOCAL TEAM WINS THE FINAL", "NEW BRIDGE OPENS DOWNTOWN",
             "SCHOOLS REOPEN ON MONDAY")

ENGLISH_WORDS = (
    "the river town morning light we never thought about what comes next and she said "
    "that everything would change before winter because nobody knew where the old road "
    "ended people walked together through quiet streets after midnight our small boat "
    "drifted past green hills while children laughed under bright summer clouds please "
    "remember this moment forever his father built houses near the harbour every year "
    "they found another reason to stay one more day"
).split()
CHINESE_PHRASES = (
    "今天天气很好", "我们一起去公园", "你知道他在哪里吗", "这个问题很重要", "明天早上见",
    "谢谢你的帮助", "我们回家吧", "城市的夜晚很安静", "他每天都学习中文", "请再说一遍",
    "时间过得真快", "我喜欢这本书", "我们需要更多时间", "这里的风景很美",
)


@dataclass(frozen=True)
class Caption:
    """One caption: shown on frames with start_ms <= time < end_ms; lines split by \\n."""

    start_ms: int
    end_ms: int
    text: str


@dataclass(frozen=True)
class Sign:
    """Text drawn into the scene with ffmpeg's ``drawtext`` (a shop sign, a label, a counter).

    ``text`` is drawtext text (expansions such as ``%{pts\\:hms}`` work): the generator only
    puts letters, digits and spaces in it otherwise. ``x`` is a drawtext expression (it may
    move with ``t``); ``y`` a fraction of the frame height; ``size`` of the frame height.
    Shown from ``start_s`` to ``end_s`` (``end_s`` 0: to the end).
    """

    text: str
    font: str  # a font file, or a family that fontconfig finds
    x: str
    y: float
    size: float
    colour: str = "white"
    box: str = ""  # drawtext boxcolor, e.g. "#203040@0.8"; "" for no box
    start_s: float = 0.0
    end_s: float = 0.0


@dataclass
class VideoSpec:
    """Everything that decides one synthetic video."""

    name: str
    captions: list[Caption]
    duration_s: float
    width: int = 1280
    height: int = 720
    fps: float = 30  # 29.97 is rendered as 30000/1001
    # photo (pans) | zoom | cuts | testsrc2 | mandelbrot | life | cellauto | noise | bright |
    # gradients
    background: str = "photo"
    cut_every_s: float = 1.7  # background "cuts": a hard cut to another scene this often
    font: str = "DejaVu Sans"
    font_size: int = 22  # ASS units at the default 288-line script height
    outline: float = 2.0
    bold: bool = True
    position: str = "bottom"  # bottom | top | middle
    colour: str = "&H00FFFFFF"  # ASS &HAABBGGRR: white
    outline_colour: str = "&H00000000"  # black
    boxed: bool = False  # an opaque box behind the text (libass BorderStyle=3), as on TV
    fade_ms: int = 0  # each caption fades in and out over this long (ASS \\fad)
    second_line_size: int = 0  # the second line of each caption in this font size (0: same)
    caption_colours: tuple[str, ...] = ()  # cycled per caption, "#RRGGBB"
    italic_every: int = 0  # every Nth caption in italics (songs, voices off screen); 0: none
    moved_every: int = 0  # every Nth caption moved to the top of the frame (ASS \\an8); 0: none
    shadow: float | None = None  # drop shadow depth; None: 0.5 (0 when boxed)
    crf: int = 20  # x264 quality: 20 is clean, 32 and up is visibly blocky
    logo: bool = False
    ticker: bool = False
    scene_text: bool = False
    clock: bool = False  # a centred, ever-changing counter near the top: caption-like noise
    headline: bool = False  # a news headline bar, new words every 3 s: caption-like noise
    headline_at: str = "top"  # top | bottom
    seed: int = 0
    extra: dict = field(default_factory=dict)
    # Beyond the fixed corpus (testkit/looks.py); the defaults keep today's videos.
    frames: int = 0  # > 0: exactly this many frames (-frames:v); 0: duration_s decides
    margin_v: int | None = None  # caption margin from the frame edge, ASS units; None: 20/40
    tone: float = 0.0  # brightness added to photo / zoom / cuts scenes (-0.45 dark, +0.35 bright)
    zoom: tuple[float, float, float] = (1.2, 0.15, 5.0)  # zoom: base, amplitude, period (s)
    cellauto_rule: int = 110
    logo_text: str = "NEWS 24"
    signs: tuple[Sign, ...] = ()


def srt_time(ms: int) -> str:
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    seconds, ms = divmod(ms, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d},{ms:03d}"


def write_srt(captions: list[Caption], path: Path) -> Path:
    """Captions as an SRT file."""
    blocks = [f"{n}\n{srt_time(c.start_ms)} --> {srt_time(c.end_ms)}\n{c.text}\n"
              for n, c in enumerate(captions, 1)]
    path.write_text("\n".join(blocks), encoding="utf-8")
    return path


def random_captions(duration_s: float, seed: int, language: str = "en",
                    two_line_share: float = 0.25, gap_share: float = 0.5,
                    min_ms: int = 1200, max_ms: int = 3500, min_words: int = 3,
                    max_words: int = 7, keep_every: int = 1,
                    word_by_word: bool = False) -> list[Caption]:
    """Captions filling the video: some back to back, some with gaps, some two-line
    (``keep_every`` N: only every Nth of them, for a video with few captions;
    ``word_by_word``: one-line captions revealed a word at a time, 0.3-0.6 s per word, as
    short-form videos show them: each step is a caption of its own)."""
    rng = random.Random(seed)
    captions, now = [], rng.randint(300, 1200)
    end_of_video = int(duration_s * 1000) - 300
    while True:
        length = rng.randint(min_ms, max_ms)
        if now + length > end_of_video:
            break
        if word_by_word:
            words = _random_line(rng, language, min_words, max_words).split()
            for count in range(1, len(words) + 1):
                step = rng.randint(300, 600)
                if now + step > end_of_video:
                    break
                captions.append(Caption(now, now + step, " ".join(words[:count])))
                now += step
            now += rng.randint(200, 800) if rng.random() < gap_share else 0
            continue
        if language == "zh+en":  # bilingual: a Chinese line over an English one, always
            text = _random_line(rng, "zh") + "\n" + _random_line(rng, "en", min_words,
                                                                   max_words)
        else:
            lines = 2 if rng.random() < two_line_share else 1
            text = "\n".join(_random_line(rng, language, min_words, max_words)
                             for _ in range(lines))
        captions.append(Caption(now, now + length, text))
        now += length + (rng.randint(200, 1500) if rng.random() < gap_share else 0)
    return captions[::keep_every]


def _random_line(rng: random.Random, language: str, min_words: int = 3,
                 max_words: int = 7) -> str:
    if language == "zh":
        return rng.choice(CHINESE_PHRASES) + ("，" + rng.choice(CHINESE_PHRASES)
                                              if rng.random() < 0.4 else "")
    words = [rng.choice(ENGLISH_WORDS) for _ in range(rng.randint(min_words, max_words))]
    line = " ".join(words)
    return line[0].upper() + line[1:] + rng.choice([".", "", "?", "!", ","])


def make_photo(path: Path, width: int, height: int, seed: int) -> Path:
    """A photo-like picture (soft light, shapes, texture), larger than the frame to pan."""
    import cv2

    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    image = np.zeros((height, width, 3), np.float32)
    for channel in range(3):
        phase = rng.uniform(0, 6.28, 3)
        image[..., channel] = (110 + 60 * np.sin(xs / rng.uniform(150, 400) + phase[0])
                               + 40 * np.cos(ys / rng.uniform(120, 300) + phase[1]))
    for _ in range(40):
        centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        axes = (int(rng.integers(20, 160)), int(rng.integers(20, 160)))
        colour = tuple(float(v) for v in rng.integers(0, 255, 3))
        cv2.ellipse(image, centre, axes, float(rng.uniform(0, 180)), 0, 360, colour, -1)
    image = cv2.GaussianBlur(image, (0, 0), 3)
    image += rng.normal(0, 12, image.shape).astype(np.float32)  # texture / grain
    cv2.imwrite(str(path), np.clip(image, 0, 255).astype(np.uint8))
    return path


def frame_rate(fps: float) -> str:
    """ffmpeg's rate for ``fps``: "30" for 30, "30000/1001" for 29.97 (and 23.976, 59.94)."""
    if float(fps).is_integer():
        return str(int(fps))
    for base in (24, 30, 60):
        if abs(fps - base * 1000 / 1001) < 0.01:
            return f"{base * 1000}/1001"
    raise ValueError(f"no exact frame rate for {fps}")


def frame_ms(frame: int, fps: float) -> int:
    """The time libass is given for frame ``frame``, in ms, exactly as ffmpeg's subtitles
    filter computes it (pts * time base * 1000 in doubles, truncated): a caption from
    ``frame_ms(a)`` to ``frame_ms(b)`` is burned on frames a..b-1, no more, no less."""
    num, den = (int(part) for part in (frame_rate(fps) + "/1").split("/")[:2])
    return int(frame * (den / num) * 1000)


def _gradient_colours(seed: int) -> str:
    """The two colours of ffmpeg's ``gradients`` source, drawn from ``seed``.

    Left out, they default to "random", which ffmpeg draws from the clock and not from the
    source's ``seed`` (that one only places the gradient's line): the same spec then gave
    a video of other colours on every run, and OCR of its captions came out differently
    about one run in four (docs/ocr.md, "Determinism"). ``life`` has the same trap: without
    ``seed`` it fills its first grid from the clock.
    """
    rng = random.Random(seed)
    return ":".join(f"c{number}=0x{rng.getrandbits(24):06x}" for number in range(2))


def _background_input(spec: VideoSpec, workdir: Path) -> list[str]:
    size = f"{spec.width}x{spec.height}"
    # with an exact frame count the sources run a little longer and -frames:v cuts them
    duration = f"{spec.duration_s + (1 if spec.frames else 0):.3f}"
    rate = frame_rate(spec.fps)
    if spec.background in ("photo", "cuts", "zoom"):
        across = 4 if spec.background == "cuts" else 2  # "cuts" jumps between far regions
        photo = make_photo(workdir / f"{spec.name}-photo.png", spec.width * across,
                           spec.height * 2, spec.seed)
        return ["-loop", "1", "-framerate", rate, "-t", duration, "-i", str(photo)]
    sources = {
        "testsrc2": f"testsrc2=size={size}:rate={rate}",
        "mandelbrot": f"mandelbrot=size={size}:rate={rate}",
        "life": f"life=size={size}:rate={rate}:mold=10:ratio=0.1:death_color=#304050:"
                f"life_color=#a0c0ff:seed={spec.seed}",
        "bright": f"color=c=#f4f4ee:size={size}:rate={rate}",
        "gradients": f"gradients=size={size}:rate={rate}:speed=0.02:seed={spec.seed}:"
                     f"{_gradient_colours(spec.seed)}",
        # a cellular automaton in cells of 4 pixels, scrolling up, tinted
        "cellauto": f"cellauto=size={spec.width // 4}x{spec.height // 4}:rate={rate}"
                    f":rule={spec.cellauto_rule}:random_seed={spec.seed}:scroll=1,"
                    f"scale={spec.width}:{spec.height}:flags=neighbor,"
                    "colorchannelmixer=rr=0.55:gg=0.75:bb=0.95",
        # television snow, in grains of about 3 pixels (full-pixel snow does not compress)
        "noise": f"color=c=#707070:size={spec.width // 3}x{spec.height // 3}:rate={rate},"
                 f"noise=alls=70:allf=t+u,scale={spec.width}:{spec.height}",
    }
    return ["-f", "lavfi", "-t", duration, "-i", sources[spec.background]]


def _scene_filters(spec: VideoSpec) -> list[str]:
    """The moving background: pans, zooms and cuts over the photo, a tone, noise."""
    chain = []
    if spec.background == "photo":
        # Pan across the larger photo: the scene moves under the captions.
        chain.append(f"crop={spec.width}:{spec.height}:"
                     f"x='(in_w-out_w)/2*(1+sin(t/3))':y='(in_h-out_h)/2*(1+cos(t/4))'")
    if spec.background == "zoom":
        # The camera zooms in and out (and drifts) over the photo, one output frame per input.
        base, amplitude, period = spec.zoom
        rate = frame_rate(spec.fps)
        z = f"{base:.3f}+{amplitude:.3f}*sin(on/({rate})/{period:.2f})"
        chain.append(f"zoompan=z='{z}':x='(iw-iw/zoom)/2*(1+0.6*sin(on/({rate})/7))'"
                     f":y='(ih-ih/zoom)/2*(1+0.6*cos(on/({rate})/9))':d=1"
                     f":s={spec.width}x{spec.height}:fps={rate}")
    if spec.background == "cuts":
        # A hard cut every cut_every_s to another region of a wide photo (it pans a little
        # in between), and every third scene is dark: cuts fall inside captions.
        scene = f"floor(t/{spec.cut_every_s})"
        chain.append(f"crop={spec.width}:{spec.height}:"
                     f"x='mod({scene}*out_w*1.37\\,in_w-out_w-40)+20+20*sin(t)':"
                     f"y='mod({scene}*out_h*0.61\\,in_h-out_h)'")
        chain.append(f"eq=brightness='if(eq(mod({scene}\\,3)\\,2)\\,-0.35\\,0)':eval=frame")
    if spec.tone:
        chain.append(f"eq=brightness={spec.tone:.2f}")
    if spec.background == "bright":
        chain.append("noise=alls=8:allf=t")
    return chain


def _sign_filter(sign: Sign, height: int) -> str:
    box = f":box=1:boxcolor={sign.box}:boxborderw=8" if sign.box else ""
    end = f"\\,{sign.end_s:.2f}" if sign.end_s else "\\,1e9"
    font = f"fontfile={sign.font}" if sign.font.startswith("/") else f"font='{sign.font}'"
    return (f"drawtext={font}:text='{sign.text}'"
            f":fontsize={max(8, round(height * sign.size))}:fontcolor={sign.colour}:x={sign.x}"
            f":y=h*{sign.y:.4f}{box}:enable='between(t\\,{sign.start_s:.2f}{end})'")


def _filters(spec: VideoSpec, srt: Path) -> str:
    chain = _scene_filters(spec)
    chain.extend(_sign_filter(sign, spec.height) for sign in spec.signs)
    if spec.scene_text:
        chain.append(f"drawtext=fontfile={DEJAVU}:text='CITY MARKET':fontsize={spec.height // 14}"
                     ":fontcolor=#202020:x=w*0.18+20*sin(t):y=h*0.38:box=1:boxcolor=#d8c8a0"
                     ":boxborderw=12")
    if spec.clock:
        chain.append(f"drawtext=fontfile={DEJAVU_BOLD}:text='%{{eif\\:t*7+100\\:d}} pts'"
                     f":fontsize={spec.height // 18}:fontcolor=white:x=(w-tw)/2:y=h*0.06"
                     ":box=1:boxcolor=#203060:boxborderw=6")
    if spec.headline:
        for number in range(math.ceil(spec.duration_s / HEADLINE_SECONDS)):
            start = number * HEADLINE_SECONDS
            y = "h*0.05" if spec.headline_at == "top" else "h-th-h*0.05"
            headline = HEADLINES[number % len(HEADLINES)]
            chain.append(f"drawtext=fontfile={DEJAVU_BOLD}:text='{headline}'"
                         f":fontsize={spec.height // 20}:fontcolor=white:x=(w-tw)/2:y={y}"
                         f":box=1:boxcolor=#8a1010:boxborderw=8"
                         f":enable='gte(t\\,{start})*lt(t\\,{start + HEADLINE_SECONDS})'")
    if spec.logo:
        chain.append(f"drawtext=fontfile={DEJAVU_BOLD}:text='{spec.logo_text}'"
                     f":fontsize={spec.height // 16}"
                     ":fontcolor=white@0.85:x=w-tw-30:y=30:box=1:boxcolor=#b01010@0.8"
                     ":boxborderw=8")
    if spec.ticker:
        ticker_text = ("MARKETS RALLY AS RATES HOLD  +++  WEATHER WARNING FOR THE COAST  +++  "
                       "LOCAL TEAM WINS FINAL  +++  ")
        chain.append(f"drawtext=fontfile={DEJAVU_BOLD}:text='{ticker_text}':fontsize="
                     f"{spec.height // 24}:fontcolor=yellow:x=w-mod(t*{spec.width // 6}\\,w+tw)"
                     f":y=h-th-12:box=1:boxcolor=black@0.7:boxborderw=6")
    # force_style alignment follows the legacy SSA numbering: 2 bottom centre, 6 top centre.
    alignment = {"top": 6, "middle": 10}.get(spec.position, 2)
    margin_v = spec.margin_v if spec.margin_v is not None else (20 if not spec.ticker else 40)
    shadow = spec.shadow if spec.shadow is not None else (0 if spec.boxed else 0.5)
    style = (f"FontName={spec.font},FontSize={spec.font_size},PrimaryColour={spec.colour},"
             f"OutlineColour={spec.outline_colour},BackColour=&H40000000,"
             f"BorderStyle={3 if spec.boxed else 1},Outline={spec.outline},"
             f"Shadow={shadow},"
             f"Bold={-1 if spec.bold else 0},Alignment={alignment},MarginV={margin_v}")
    if not spec.captions:  # libass refuses an empty subtitle file
        return ",".join(chain) or "null"
    # Override tags go into the burned file only, not into the reference.
    fade = f"{{\\fad({spec.fade_ms},{spec.fade_ms})}}" if spec.fade_ms else ""
    smaller = f"\n{{\\fs{spec.second_line_size}}}" if spec.second_line_size else "\n"
    colours = spec.caption_colours

    def burned(number: int, text: str) -> str:
        text = fade + text.replace("\n", smaller)
        if colours:  # libass takes SRT's font tag, not a {\c} override, from SRT
            text = f'<font color="{colours[number % len(colours)]}">{text}</font>'
        if spec.italic_every and number % spec.italic_every == 0:
            text = f"<i>{text}</i>"
        if spec.moved_every and number % spec.moved_every == spec.moved_every - 1:
            text = "{\\an8}" + text
        return text

    tagged = [Caption(c.start_ms, c.end_ms, burned(n, c.text))
              for n, c in enumerate(spec.captions)]
    if tagged != spec.captions:
        srt = write_srt(tagged, srt.with_name(srt.stem + ".burn.srt"))
    escaped = str(srt).replace("\\", "\\\\").replace(":", "\\:").replace("'", "\\'")
    chain.append(f"subtitles=filename='{escaped}':force_style='{style}'")
    return ",".join(chain)


def make_video(spec: VideoSpec, out_dir: Path) -> tuple[Path, Path]:
    """Render ``spec`` to ``out_dir/<name>.mp4`` with its ``<name>.srt``; skip if present."""
    if shutil.which("ffmpeg") is None:
        raise RuntimeError("ffmpeg is needed to make synthetic videos")
    out_dir.mkdir(parents=True, exist_ok=True)
    video, srt = out_dir / f"{spec.name}.mp4", out_dir / f"{spec.name}.srt"
    if video.exists() and srt.exists():
        return video, srt
    write_srt(spec.captions, srt)
    partial = out_dir / f".{spec.name}.partial.mp4"
    length = (["-frames:v", str(spec.frames)] if spec.frames
              else ["-t", f"{spec.duration_s:.3f}"])
    command = ["ffmpeg", "-v", "error", "-y", *_background_input(spec, out_dir),
               "-vf", _filters(spec, srt), "-r", frame_rate(spec.fps), *length,
               "-c:v", "libx264", "-preset", "veryfast", "-crf", str(spec.crf),
               "-pix_fmt", "yuv420p", str(partial)]
    subprocess.run(command, check=True)
    partial.rename(video)
    return video, srt
