"""Random looks: a video's whole look drawn at random from wide ranges, per (seed, index).

``random_look(seed, index)`` returns a ``corpus.VideoSpec`` that ``corpus.make_video``
renders (libass captions from the reference SRT, drawtext distractors, ffmpeg backgrounds).
Every draw comes from ``random.Random(f"looks-{seed}-{index}")``, so a seed names a set of
videos; the fonts are the ones ``fc-list`` finds on this machine (``installed_fonts``), so
the same seed on a machine with other fonts draws other fonts: the spec records the font
(and ``bench/looks_setup.sh`` installs Debian's free font packages).

What is drawn (``describe`` gives it in one short line):

* language: English (most), Chinese simplified, Chinese traditional, bilingual (a Chinese
  line over an English one); font: any sans / serif family of the script (Latin for
  English, CJK simplified or traditional for Chinese); size; bold, regular or italic;
* colour (white, yellow, cyan, green, off-white; now and then dark text on a light
  outline or box); outline 0-4, shadow 0-3, or an opaque or translucent box; bottom or
  top, margin 5-60 (ASS units); one to three lines;
* timing, as a chain of patterns: captions with gaps, back to back, the same text twice
  with a blank of 2-12 frames, quick one-word captions (0.3-0.8 s), long ones (4-7 s),
  caption-free stretches of 3-8 s (at least one per video; ``extra["blank_ms"]``);
  every boundary falls on a frame (``corpus.frame_ms``), so the SRT says exactly which
  frames show a caption;
* background: a pan or a zoom over a photo, hard cuts every 0.5-5 s, busy textures
  (mandelbrot, life, a cellular automaton, snow, testsrc2, gradients), a bright scene;
  photo scenes dark or bright now and then; signs and scene text inside the caption band
  (some moving, some only for a while, a running counter), a logo, a ticker, a clock, a
  headline bar;
* 640x360 to 1920x1080 (now and then vertical 720x1280), 24 / 25 / 30 fps (now and then
  29.97 or 60), x264 crf 18-32, 20-40 s.

Nothing drawn is unreadable to a person: light text without an outline gets a shadow,
and white text over a bright scene gets an outline or a box.
"""

from __future__ import annotations

import functools
import math
import random
import re
import shutil
import subprocess

from testkit.corpus import (
    CHINESE_PHRASES,
    ENGLISH_WORDS,
    Caption,
    Sign,
    VideoSpec,
    frame_ms,
)

DEVELOPMENT_SEEDS = (1, 2)  # tune on these; report held-out figures on a seed never seen

SIMPLIFIED = CHINESE_PHRASES + ("图书馆里很热闹", "电视新闻说会下雨", "这条街道变得更宽了",
                                "让我们听听音乐", "机场离这里很远", "这些问题都没有答案")
# The same phrases in traditional characters, one for one.
TRADITIONAL = ("今天天氣很好", "我們一起去公園", "你知道他在哪裡嗎", "這個問題很重要",
               "明天早上見", "謝謝你的幫助", "我們回家吧", "城市的夜晚很安靜",
               "他每天都學習中文", "請再說一遍", "時間過得真快", "我喜歡這本書",
               "我們需要更多時間", "這裡的風景很美", "圖書館裡很熱鬧", "電視新聞說會下雨",
               "這條街道變得更寬了", "讓我們聽聽音樂", "機場離這裡很遠", "這些問題都沒有答案")
QUICK = {"en": ("No.", "Wait!", "Yes.", "Why?", "Okay.", "Run!", "Hello?", "Thanks.",
                "Stop!", "Really?", "Now!", "Listen.", "Go.", "Never.", "What?", "Sorry."),
         "zh-Hans": ("好的", "等一下", "真的吗？", "走吧", "什么？", "谢谢", "快跑！", "没有"),
         "zh-Hant": ("好的", "等一下", "真的嗎？", "走吧", "什麼？", "謝謝", "快跑！", "沒有")}
MORE_WORDS = ("can't", "don't", "it's", "we'll", "I'm", "you're", "Anna", "London", "Tuesday",
              "1984", "42", "seven", "o'clock", "well,", "okay")
SIGN_WORDS = ("OPEN", "EXIT", "CAFE", "SALE", "PARKING", "HOTEL", "BAKERY", "PHARMACY",
              "NO ENTRY", "TICKETS", "PLATFORM 4", "MUSEUM", "BAR", "TAXI", "BUS STOP",
              "Fresh Bread", "Welcome", "Books", "Music", "Open 24 hours")
SIGN_WORDS_ZH = ("出口", "咖啡", "停车场", "欢迎光临", "書店", "營業中", "地铁站", "餐廳")
LOGOS = ("NEWS 24", "TV5", "SPORT PLUS", "CH 7", "LIVE", "DOC ONE", "KIDS", "MOVIE MAX")

# name: (ASS &HAABBGGRR, weight); dark text is drawn separately
COLOURS = {"white": ("&H00FFFFFF", 5), "yellow": ("&H0000FFFF", 3), "cyan": ("&H00FFFF00", 1),
           "green": ("&H0000FF00", 1), "off-white": ("&H00D8F0F8", 2)}
DARK_TEXT, LIGHT_EDGE = "&H00101010", "&H00F4F4F4"
BACKGROUNDS = {"photo": 3, "zoom": 3, "cuts": 3, "mandelbrot": 1, "life": 1, "cellauto": 1,
               "noise": 1, "testsrc2": 1, "gradients": 1, "bright": 1}
PHOTO_LIKE = ("photo", "zoom", "cuts")
SIZES = ((640, 360, 2), (854, 480, 2), (960, 540, 1), (1280, 720, 3), (1920, 1080, 2),
         (720, 1280, 1))
RATES = ((24, 3), (25, 3), (30, 4), (29.97, 1), (60, 1))
PATTERNS = {"gap": 4, "back-to-back": 3, "repeat": 2, "quick": 2, "long": 2, "blank": 1}
SCRIPT_HEIGHT = 288  # libass's PlayResY for SRT: font sizes and margins are in these units
LATIN_EXCLUDED = re.compile(r"Mono|Math|Symbol|D050000L|Z003|Sharp|CJK|WenQuanYi|AR PL|"
                            r"Emoji|Dingbat", re.IGNORECASE)


# --------------------------------------------------------------------------- fonts
def _families(pattern: str) -> list[str]:
    """First family names ``fc-list <pattern> family`` prints, sorted, unique."""
    if shutil.which("fc-list") is None:
        return []
    listed = subprocess.run(["fc-list", pattern, "family"], capture_output=True, text=True,
                            check=False).stdout
    return sorted({line.split(",")[0].strip() for line in listed.splitlines() if line.strip()})


def _cjk_for(script: str, families: list[str]) -> tuple[str, ...]:
    """CJK sans / serif families of one script: SC/CN for simplified, TC/HK/TW for
    traditional, WenQuanYi for both; monospaced, Japanese, Korean and MBE ones left out."""
    own = ("SC", "CN") if script == "zh-Hans" else ("TC", "HK", "TW")
    keep = []
    for family in families:
        words = family.split()
        if any(w in ("Mono", "JP", "KR", "MBE", "Sharp") for w in words):
            continue
        if family.startswith("WenQuanYi") or any(w in own for w in words):
            keep.append(family)
    return tuple(keep)


@functools.cache
def installed_fonts() -> dict[str, tuple[str, ...]]:
    """{"latin": ..., "zh-Hans": ..., "zh-Hant": ...}: the caption font families installed
    (sans and serif; no monospace, maths, symbols or script faces), sorted."""
    latin = tuple(f for f in _families(":lang=en") if not LATIN_EXCLUDED.search(f))
    fonts = {"latin": latin or ("DejaVu Sans",),
             "zh-Hans": _cjk_for("zh-Hans", _families(":lang=zh-cn")),
             "zh-Hant": _cjk_for("zh-Hant", _families(":lang=zh-tw"))}
    fonts["zh-Hans"] = fonts["zh-Hans"] or ("Noto Sans CJK SC",)
    fonts["zh-Hant"] = fonts["zh-Hant"] or ("Noto Sans CJK TC",)
    return fonts


# --------------------------------------------------------------------------- text
def _weighted(rng: random.Random, table: dict):
    keys = list(table)
    weights = [table[k] if not isinstance(table[k], tuple) else table[k][1] for k in keys]
    return rng.choices(keys, weights)[0]


def _english_line(rng: random.Random, low: int, high: int) -> str:
    words = [rng.choice(ENGLISH_WORDS) if rng.random() < 0.85 else rng.choice(MORE_WORDS)
             for _ in range(rng.randint(low, high))]
    line = " ".join(words)
    line = line[0].upper() + line[1:] + rng.choice([".", "", "?", "!", ",", "..."])
    return ("- " + line) if rng.random() < 0.06 else line


def _chinese_line(rng: random.Random, script: str) -> str:
    phrases = SIMPLIFIED if script == "zh-Hans" else TRADITIONAL
    line = rng.choice(phrases)
    if rng.random() < 0.35:
        line += "，" + rng.choice(phrases)
    return line + rng.choice(["", "", "。", "！", "？"])


def _caption_text(rng: random.Random, look: dict, quick: bool = False) -> str:
    language = look["language"]
    if quick:
        script = "en" if language in ("en", "bilingual") else language
        return rng.choice(QUICK[script])
    if language == "bilingual":
        return _chinese_line(rng, look["script"]) + "\n" + _english_line(rng, 2, 6)
    lines = rng.choices(range(1, look["max_lines"] + 1),
                        [6, 3, 1][:look["max_lines"]])[0]
    if language == "en":
        low, high = (2, 5) if lines == 3 else (2, 8)
        return "\n".join(_english_line(rng, low, high) for _ in range(lines))
    return "\n".join(_chinese_line(rng, language) for _ in range(lines))


def rendered_lines(text: str, look: dict) -> int:
    """How many lines libass will draw (it wraps long lines), estimated generously."""
    glyph = look["font_size"] * look["height"] / SCRIPT_HEIGHT  # pixels
    usable = look["width"] - 2 * 10 * look["height"] / SCRIPT_HEIGHT
    count = 0
    for line in text.split("\n"):
        wide = sum(1.0 if ord(c) > 0x2E80 else 0.62 for c in line)
        count += max(1, math.ceil(wide * glyph / usable))
    return count


def fits(text: str, look: dict) -> bool:
    """The caption stays inside the frame: its lines and margin fill at most 45% of it."""
    tall = rendered_lines(text, look) * look["font_size"] * 1.3 + look["margin_v"]
    return tall <= 0.45 * SCRIPT_HEIGHT


def _fitting_text(rng: random.Random, look: dict, quick: bool = False,
                  avoid: str = "") -> str:
    for _ in range(30):
        text = _caption_text(rng, look, quick)
        if text != avoid and fits(text, look):
            return text
    return rng.choice([q for q in QUICK["en"] if q != avoid])


# --------------------------------------------------------------------------- timing
def _seconds(rng: random.Random, low: float, high: float, fps: float) -> int:
    """A random length in whole frames."""
    return max(1, round(rng.uniform(low, high) * fps))


def _pattern_block(rng: random.Random, pattern: str, look: dict, last: str
                   ) -> list[tuple[int, int, str]]:
    """One pattern as (caption frames, blank frames after it, text) steps; text "" for a
    caption-free stretch."""
    fps = look["fps"]
    gap = lambda: _seconds(rng, 0.2, 1.5, fps)  # noqa: E731
    if pattern == "blank":
        return [(0, _seconds(rng, 3, 8, fps), "")]
    if pattern == "gap":
        return [(_seconds(rng, 1.2, 3.5, fps), gap(), _fitting_text(rng, look, avoid=last))]
    if pattern == "long":
        return [(_seconds(rng, 4, 7, fps), gap(), _fitting_text(rng, look, avoid=last))]
    if pattern == "repeat":  # the same text twice, a blank of 2-12 frames between
        text = _fitting_text(rng, look, avoid=last)
        return [(_seconds(rng, 0.8, 3, fps), rng.randint(2, 12), text),
                (_seconds(rng, 0.8, 3, fps), gap(), text)]
    steps = []
    quick = pattern == "quick"
    for _ in range(rng.randint(2, 5) if quick else rng.randint(2, 4)):
        text = _fitting_text(rng, look, quick, avoid=steps[-1][2] if steps else last)
        length = _seconds(rng, 0.3, 0.8, fps) if quick else _seconds(rng, 1.0, 3.5, fps)
        blank = rng.choice([0, 0, rng.randint(2, 10)]) if quick else 0
        steps.append((length, blank, text))
    steps[-1] = (steps[-1][0], rng.choice([0, gap()]), steps[-1][2])
    return steps


def timeline(rng: random.Random, look: dict) -> tuple[list[Caption], list[str],
                                                        list[tuple[int, int]]]:
    """Captions (frame-exact times) filling ``look["frames"]`` frames as a chain of timing
    patterns; the patterns used; the caption-free stretches of >= 3 s, in ms."""
    fps, total = look["fps"], look["frames"]
    end = total - _seconds(rng, 0.3, 0.6, fps)
    now = _seconds(rng, 0.2, 1.5, fps)
    blank_at = rng.uniform(0.15, 0.7) * total  # at least one caption-free stretch per video
    captions: list[Caption] = []
    patterns: list[str] = []
    had_blank = False
    room = lambda steps: sum(length + blank for length, blank, _ in steps)  # noqa: E731
    misses = 0
    while misses < 6:  # near the end, try a few patterns that may still fit
        pattern = _weighted(rng, PATTERNS)
        if pattern == "blank" and patterns[-1:] == ["blank"]:
            continue
        steps = _pattern_block(rng, pattern, look, captions[-1].text if captions else "")
        if not had_blank and (now >= blank_at or now + room(steps) > end - 8 * fps):
            pattern, steps = "blank", _pattern_block(rng, "blank", look, "")
        if now + room(steps) > end:
            misses += 1
            continue
        for length, blank, text in steps:
            if text:
                captions.append(Caption(frame_ms(now, fps), frame_ms(now + length, fps), text))
            now += length + blank
        had_blank = had_blank or pattern == "blank"
        patterns.append(pattern)
    blanks, previous = [], 0
    for caption in [*captions, Caption(frame_ms(total, fps), 0, "")]:
        if caption.start_ms - previous >= 3000:
            blanks.append((previous, caption.start_ms))
        previous = caption.end_ms
    return captions, patterns, blanks


# --------------------------------------------------------------------------- the look
def _draw_text_style(rng: random.Random, look: dict, bright_scene: bool) -> dict:
    """Colour, outline, shadow, box: readable by a person on this scene."""
    dark = rng.random() < 0.08
    colour = "dark" if dark else _weighted(rng, COLOURS)
    style = rng.choices(["outline", "shadow", "box", "box-translucent"], [6, 1.5, 1.5, 1.5])[0]
    if style == "shadow" and (dark or bright_scene):
        style = "outline"  # light text with only a shadow vanishes on a bright scene
    outline = rng.choice([0.5, 1, 1.5, 2, 2.5, 3, 4]) if style == "outline" else 0.0
    shadow = rng.choice([0, 0, 0.5, 1, 2, 3]) if style == "outline" else rng.choice([1, 2, 3])
    edge = "&H00000000"
    if dark:
        edge, outline = LIGHT_EDGE, max(outline, 1.5)
    if style.startswith("box"):
        outline = rng.choice([1, 1.5, 2, 3, 4])  # the box's padding
        shadow = rng.choice([0, 0, 0, 1, 2])
        if dark:
            edge = LIGHT_EDGE if style == "box" else "&H60F4F4F4"
        elif style == "box":
            edge = rng.choice(["&H00000000", "&H00402010", "&H00303030"])
        else:
            edge = rng.choice(["&H80000000", "&H60000000", "&HA0000000"])
    if style == "shadow":
        outline = 0.0
    return {"colour": colour, "colour_ass": DARK_TEXT if dark else COLOURS[colour][0],
            "style": style, "outline": float(outline), "shadow": float(shadow),
            "edge": edge}


def _signs(rng: random.Random, look: dict, duration_s: float) -> tuple[Sign, ...]:
    """Scene text inside the caption band: signs, labels, a counter; some move, some come
    and go (also in the caption-free stretches)."""
    band_top = 0.70 if look["position"] == "bottom" else 0.03
    signs = []
    for _ in range(rng.randint(1, 3)):
        chinese = rng.random() < 0.2
        text = rng.choice(SIGN_WORDS_ZH if chinese else SIGN_WORDS)
        family = "Noto Sans CJK SC" if chinese else rng.choice(look["sign_fonts"])
        if rng.random() < 0.15:  # a running counter or timecode
            text, family = rng.choice(["%{pts\\:hms}", "%{eif\\:t*13+200\\:d}"]), "DejaVu Sans"
        x = rng.choice([f"w*{rng.uniform(0.02, 0.7):.3f}",
                        f"w*{rng.uniform(0.05, 0.6):.3f}+{rng.randint(10, 80)}*sin(t*"
                        f"{rng.uniform(0.3, 2):.2f})",
                        f"w-mod(t*w/{rng.uniform(3, 9):.1f}\\,w+tw)"])
        start = 0.0 if rng.random() < 0.4 else round(rng.uniform(0, duration_s - 3), 2)
        length = rng.uniform(2, 12)
        end = 0.0 if start == 0 and rng.random() < 0.5 else round(min(start + length,
                                                                       duration_s), 2)
        signs.append(Sign(text, family, x,
                          round(band_top + rng.uniform(0, 0.22), 3),
                          round(rng.uniform(1 / 32, 1 / 12), 4),
                          rng.choice(["white", "#202020", "yellow", "#ff8040", "#80ffff",
                                      "#f0e0c0"]),
                          rng.choice(["", "", "#203040@0.8", "#d8c8a0", "#802020@0.9",
                                      "black@0.5"]), start, end))
    return tuple(signs)


def _draw_look(rng: random.Random, fonts: dict[str, tuple[str, ...]]) -> dict:
    width, height, _ = rng.choices(SIZES, [s[2] for s in SIZES])[0]
    fps = rng.choices([r for r, _ in RATES], [w for _, w in RATES])[0]
    duration = rng.uniform(20, 40)
    language = rng.choices(["en", "zh-Hans", "zh-Hant", "bilingual"], [10, 3, 2.5, 2.5])[0]
    script = (rng.choice(["zh-Hans", "zh-Hant"]) if language == "bilingual" else
              (language if language != "en" else "latin"))
    vertical = height > width
    look = {"width": width, "height": height, "fps": fps, "crf": rng.randint(18, 32),
            "frames": round(duration * fps), "language": language, "script": script,
            "font": rng.choice(fonts[script]),
            "font_size": rng.randint(9, 15) if vertical else rng.randint(14, 32),
            "weight": rng.choices(["bold", "regular", "italic", "bold-italic"],
                                  [4, 4, 1.5, 0.5])[0],
            "position": rng.choices(["bottom", "top"], [3, 1])[0],
            "margin_v": rng.randint(10, 100) if vertical else rng.randint(5, 60),
            "max_lines": 2 if language == "bilingual" else rng.choices([1, 2, 3], [4, 4, 2])[0],
            "background": _weighted(rng, BACKGROUNDS),
            "cut_every_s": round(rng.uniform(0.5, 5), 2), "tone": 0.0,
            "sign_fonts": fonts["latin"]}
    if look["background"] in PHOTO_LIKE:
        look["tone"] = rng.choices([0.0, round(-rng.uniform(0.3, 0.45), 2),
                                    round(rng.uniform(0.25, 0.4), 2)], [6, 2, 2])[0]
    bright = look["background"] == "bright" or look["tone"] > 0
    look.update(_draw_text_style(rng, look, bright))
    look["second_line_size"] = (round(look["font_size"] * 0.75)
                                if language == "bilingual" and rng.random() < 0.5 else 0)
    return look


def random_look(seed: int, index: int,
                fonts: dict[str, tuple[str, ...]] | None = None) -> VideoSpec:
    """Video ``index`` of seed ``seed``: its whole look drawn at random (module doc)."""
    rng = random.Random(f"looks-{seed}-{index}")
    look = _draw_look(rng, fonts or installed_fonts())
    fps, frames = look["fps"], look["frames"]
    duration = frames / fps
    bottom = look["position"] == "bottom"
    extras = {"logo": rng.random() < 0.3, "ticker": bottom and rng.random() < 0.15,
              "clock": bottom and rng.random() < 0.2, "headline": rng.random() < 0.1,
              "signs": rng.random() < 0.45}
    margin = max(look["margin_v"], 40) if extras["ticker"] else look["margin_v"]
    look["margin_v"] = margin  # above the ticker
    captions, patterns, blanks = timeline(rng, look)
    amplitude = rng.uniform(0.05, 0.35)
    spec = VideoSpec(
        name=f"r{seed}-{index:03d}", captions=captions, duration_s=duration,
        width=look["width"], height=look["height"], fps=fps, frames=frames,
        background=look["background"], cut_every_s=look["cut_every_s"], tone=look["tone"],
        zoom=(round(1 + amplitude + rng.uniform(0, 0.3), 2), round(amplitude, 2),
              round(rng.uniform(1.5, 8), 1)),
        cellauto_rule=rng.choice([18, 30, 90, 110, 150]),
        font=look["font"], font_size=look["font_size"], outline=look["outline"],
        shadow=look["shadow"], bold=look["weight"].startswith("bold"),
        italic_every=1 if "italic" in look["weight"] else 0, position=look["position"],
        margin_v=margin, colour=look["colour_ass"], outline_colour=look["edge"],
        boxed=look["style"].startswith("box"), second_line_size=look["second_line_size"],
        crf=look["crf"], logo=extras["logo"], logo_text=rng.choice(LOGOS),
        ticker=extras["ticker"], clock=extras["clock"], headline=extras["headline"],
        headline_at="top" if bottom else "bottom",
        signs=_signs(rng, look, duration) if extras["signs"] else (),
        seed=(seed * 100_000 + index) % (2**32 - 1))  # ffmpeg takes 32-bit seeds
    look.pop("sign_fonts")
    spec.extra = {"look": {**look, **extras}, "patterns": patterns, "blank_ms": blanks,
                  "language": look["language"], "summary": describe_look(look, extras)}
    return spec


def describe_look(look: dict, extras: dict) -> str:
    """The look in one short line, for the bench's per-video table."""
    weight = {"bold": "B", "regular": "", "italic": "I", "bold-italic": "BI"}[look["weight"]]
    style = {"outline": f"o{look['outline']:g}" + (f"s{look['shadow']:g}" if look["shadow"]
                                                    else ""),
             "shadow": f"sh{look['shadow']:g}", "box": f"box{look['outline']:g}",
             "box-translucent": f"tbox{look['outline']:g}"}[look["style"]]
    language = {"en": "en", "zh-Hans": "zh-s", "zh-Hant": "zh-t"}.get(
        look["language"], "zh-s+en" if look["script"] == "zh-Hans" else "zh-t+en")
    scene = look["background"] + (f"{look['cut_every_s']:g}s" if look["background"] == "cuts"
                                  else "")
    if look["tone"]:
        scene += "/dark" if look["tone"] < 0 else "/bright"
    busy = ",".join(k for k in ("signs", "logo", "ticker", "clock", "headline") if extras[k])
    return (f"{language} {look['font']} {look['font_size']}{weight} {look['colour']} {style} "
            f"{look['position'][0]}{look['margin_v']} <={look['max_lines']}L | {scene}"
            f"{' +' + busy if busy else ''} | {look['width']}x{look['height']}@{look['fps']:g}"
            f" crf{look['crf']}")
