"""Synthetic screenshots of a customer's message, with realistic chrome around it.

:func:`render_screenshot` draws one text in one of several layouts: a phone chat app, an e-mail
client (both also in dark mode), an app error dialog with the text in its message area or as the
customer's note on top, and a photographed printed page (rotated, in perspective, unevenly lit,
blurred, JPEG-compressed). The OCR stage has to drop the chrome (status bar, headers, agent
greeting, buttons, sign-offs), so the chrome is deliberately busy.

Every choice comes from the caller's :class:`random.Random`, so an image is a function of the text,
the seed and the font list. The whole customer text is always on the image: the layouts grow to fit
it, and each layout checks the text's boxes lie on the canvas before any post-processing.

The shared pieces (fonts, phrases, text helpers, the canvas) are in
:mod:`worker.training.data.synthetic.screen_parts`; the chat and e-mail layouts in
:mod:`~worker.training.data.synthetic.screen_messages`, the error dialog in
:mod:`~worker.training.data.synthetic.screen_dialog`; the photographed page and the entry points are here.
"""

from __future__ import annotations

import io
import math
import random
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from worker.training.data.synthetic.screen_dialog import _render_error
from worker.training.data.synthetic.screen_messages import _render_chat, _render_email
from worker.training.data.synthetic.screen_parts import (
    FONT_DIRS,
    LETTER_GREETINGS,
    LETTER_SIGN_OFFS,
    REQUIRED_CHARS,
    _Canvas,
    _font,
    _jitter,
    _line_height,
    _name,
    available_fonts,
    clean_text,
    covers_basic_latin,
    matplotlib_font_dir,
    wrap,
)

__all__ = [
    "DARK_P", "FONT_DIRS", "LAYOUTS", "LAYOUT_WEIGHTS", "REQUIRED_CHARS", "available_fonts", "clean_text",
    "covers_basic_latin", "encode_image", "matplotlib_font_dir", "render_screenshot", "wrap",
]

LAYOUTS = ("chat", "email", "error", "paper")
LAYOUT_WEIGHTS = (0.32, 0.28, 0.2, 0.2)
DARK_P = 0.35  # chat and e-mail only


# --- photographed paper --------------------------------------------------------------------------


def _perspective_coeffs(dst: Sequence[tuple[float, float]], src: Sequence[tuple[float, float]]) -> list[float]:
    """Coefficients for ``Image.transform(PERSPECTIVE)``: output point ``dst[i]`` samples ``src[i]``."""
    rows, rhs = [], []
    for (x, y), (u, v) in zip(dst, src):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        rhs.extend((u, v))
    return np.linalg.solve(np.asarray(rows, float), np.asarray(rhs, float)).tolist()


def _smooth_noise(rng_np: np.random.Generator, size: tuple[int, int], cells: int) -> np.ndarray:
    """Low-frequency noise in [0, 1], ``size`` = (w, h)."""
    small = (rng_np.random((cells, cells)) * 255).astype(np.uint8)
    return np.asarray(Image.fromarray(small).resize(size, Image.BICUBIC), np.float32) / 255.0


def _render_paper(text: str, rng: random.Random, fonts: Sequence[Path]) -> tuple[Image.Image, list, dict]:
    s = 1.5
    size = rng.randint(13, 26)
    font_path = rng.choice(fonts)
    f_body = _font(str(font_path), size * s)
    page_w = int(rng.randint(520, 800) * s)
    margin = int(page_w * rng.uniform(0.08, 0.13))
    spacing = rng.uniform(1.15, 1.5)
    lh = _line_height(f_body, spacing)
    style = rng.choice(("letter", "letter", "note"))
    lines = wrap(text, f_body, page_w - 2 * margin)
    first, last = _name(rng)
    head: list[str] = []
    tail: list[str] = []
    if style == "letter":
        if rng.random() < 0.6:
            head += [f"{rng.randint(1, 28)} {rng.choice(('January', 'March', 'April', 'June', 'October'))} 2024", ""]
        head += [rng.choice(LETTER_GREETINGS), ""]
        tail = ["", rng.choice(LETTER_SIGN_OFFS), "", f"{first} {last}"]
    elif rng.random() < 0.5:
        head = [rng.choice(("Note:", "NOTE", "Re: my account", "For the bank:")), ""]
    text_h = lh * (len(head) + len(lines) + len(tail))
    page_h = max(int(page_w * rng.uniform(0.55, 1.414)), text_h + 2 * margin)
    paper = _jitter((250, 248, 240), rng, 6)
    ink = rng.choice(((25, 25, 25), (45, 45, 50), (20, 30, 80)))
    c = _Canvas(page_w, page_h, paper)
    y = margin + max(0, (page_h - 2 * margin - text_h) // 4 if style == "note" else 0)
    for line in head:
        if line[:1].isdigit():  # the date, right-aligned
            c.draw.text((page_w - margin, y), line, font=f_body, fill=ink, anchor="ra")
        elif line:
            c.draw.text((margin, y), line, font=f_body, fill=ink)
        y += lh
    y = c.lines((margin, y), lines, f_body, lh, ink, customer=True)
    for line in tail:
        if line:
            c.draw.text((margin, y), line, font=f_body, fill=ink)
        y += lh
    c.check()
    page = c.image

    # a phone camera's resolution: shrink the page (keeping the text >= ~14 px) before the warp
    target_w = rng.randint(900, 1600)
    shrink = min(1.0, max(target_w / (page_w * 1.3), 14 / (size * s)))
    if shrink < 1.0:
        page = page.resize((int(page_w * shrink), int(page_h * shrink)), Image.LANCZOS)
        c.text_boxes = [tuple(int(v * shrink) for v in box) for box in c.text_boxes]  # type: ignore[misc]
        page_w, page_h = page.size

    # photograph it: rotate, perspective, place on a surface, shadow, uneven light, noise
    seed = rng.getrandbits(32)
    rng_np = np.random.default_rng(seed)
    angle = rng.uniform(-8, 8)
    rad = math.radians(angle)
    border = rng.uniform(1.15, 1.4)
    span_w = page_w * abs(math.cos(rad)) + page_h * abs(math.sin(rad))
    span_h = page_w * abs(math.sin(rad)) + page_h * abs(math.cos(rad))
    out_w, out_h = int(span_w * border), int(span_h * border * rng.uniform(1.0, 1.12))
    cx, cy = out_w / 2 + rng.uniform(-0.02, 0.02) * out_w, out_h / 2 + rng.uniform(-0.02, 0.02) * out_h
    corners = [(-page_w / 2, -page_h / 2), (page_w / 2, -page_h / 2), (page_w / 2, page_h / 2), (-page_w / 2, page_h / 2)]
    keystone = rng.uniform(-0.05, 0.05)
    dst = []
    for x, y0 in corners:
        x = x * (1 + (keystone if y0 < 0 else -keystone))
        x += rng.uniform(-0.015, 0.015) * page_w
        y0 += rng.uniform(-0.015, 0.015) * page_h
        dst.append((cx + x * math.cos(rad) - y0 * math.sin(rad), cy + x * math.sin(rad) + y0 * math.cos(rad)))
    src = [(0, 0), (page_w, 0), (page_w, page_h), (0, page_h)]
    coeffs = _perspective_coeffs(dst, src)
    surface_kind = rng.choice(("wood", "desk", "dark", "fabric"))
    base = {"wood": (150, 105, 65), "desk": (200, 200, 196), "dark": (55, 55, 60), "fabric": (90, 110, 140)}[surface_kind]
    # smooth fields (surface, shadow, light) are made at 1/8 size and scaled up: cheap, and smooth anyway
    lw, lh_ = max(8, out_w // 8), max(8, out_h // 8)
    surface = np.empty((lh_, lw, 3), np.float32)
    surface[:] = _jitter(base, rng, 15)
    surface *= (0.8 + 0.4 * _smooth_noise(rng_np, (lw, lh_), rng.randint(4, 12)))[..., None]
    if surface_kind == "wood":
        stripes = np.sin(np.linspace(0, rng.uniform(30, 80), lh_, dtype=np.float32)[:, None]
                         + 3 * _smooth_noise(rng_np, (lw, lh_), 6))
        surface *= (0.93 + 0.07 * stripes)[..., None]
    background = Image.fromarray(np.clip(surface, 0, 255).astype(np.uint8)).resize((out_w, out_h), Image.BILINEAR)
    mask = Image.new("L", page.size, 255).transform((out_w, out_h), Image.PERSPECTIVE, coeffs, Image.BILINEAR)
    offset = (rng.randint(2, 14), rng.randint(2, 14))
    shadow = Image.new("L", (out_w, out_h), 0)
    shadow.paste(mask, offset)
    shadow = shadow.resize((lw, lh_), Image.BILINEAR).filter(ImageFilter.GaussianBlur(rng.uniform(0.8, 2.2)))
    shadow = shadow.point(lambda v: int(v * 0.55)).resize((out_w, out_h), Image.BILINEAR)
    background = Image.composite(Image.new("RGB", (out_w, out_h), (0, 0, 0)), background, shadow)
    warped = page.transform((out_w, out_h), Image.PERSPECTIVE, coeffs, Image.BICUBIC)
    photo = Image.composite(warped, background, mask)
    # the text boxes, mapped through the same transform, must stay in the frame
    inverse = np.linalg.inv(np.append(np.asarray(coeffs), 1.0).reshape(3, 3))
    for x0, y0, x1, y1 in c.text_boxes:
        for px, py in ((x0, y0), (x1, y0), (x1, y1), (x0, y1)):
            qx, qy, qw = inverse @ (px, py, 1.0)
            if not (0 <= qx / qw <= out_w and 0 <= qy / qw <= out_h):
                raise AssertionError("paper text left the photo")
    # uneven light: a gradient across the frame, sometimes a soft shadow blob (a hand, a phone)
    yy, xx = np.mgrid[0:lh_, 0:lw].astype(np.float32)
    theta = rng.uniform(0, 2 * math.pi)
    ramp = (xx / lw - 0.5) * math.cos(theta) + (yy / lh_ - 0.5) * math.sin(theta)
    low, high = rng.uniform(0.6, 0.85), rng.uniform(0.98, 1.1)
    light = low + (high - low) * (ramp - ramp.min()) / max(1e-6, float(ramp.max() - ramp.min()))
    shadow_blob = rng.random() < 0.45
    if shadow_blob:
        bx, by = rng.uniform(0, lw), rng.uniform(0, lh_)
        radius = rng.uniform(0.25, 0.5) * lw
        blob = np.exp(-(((xx - bx) ** 2 + (yy - by) ** 2) / (2 * radius**2)))
        light *= 1 - rng.uniform(0.25, 0.45) * blob
    light_full = np.asarray(Image.fromarray(light.astype(np.float32), "F").resize((out_w, out_h), Image.BILINEAR))
    warm = np.asarray((1.0, rng.uniform(0.96, 1.0), rng.uniform(0.88, 0.99)), np.float32)
    arr = np.asarray(photo, np.float32) * light_full[..., None] * warm
    arr += rng_np.standard_normal(arr.shape, dtype=np.float32) * np.float32(rng.uniform(1.5, 6))
    photo = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    params = {"device": "camera", "scale": s, "font": font_path.name, "font_size": size, "paper_style": style,
              "surface": surface_kind, "rotation": round(angle, 2), "keystone": round(keystone, 3),
              "shadow": shadow_blob, "light_low": round(low, 2), "shrink": round(shrink, 3)}
    return photo, c.text_boxes, params


# --- the entry point -----------------------------------------------------------------------------


def render_screenshot(text: str, rng: random.Random, *, fonts: Sequence[Path]) -> tuple[Image.Image, dict]:
    """One synthetic screenshot (or photo) of ``text``, and the choices made, JSON-ready.

    ``params["format"]`` is ``"png"`` or ``"jpeg"`` (then ``params["jpeg_quality"]``); save with
    :func:`encode_image` so the compression chosen is the one applied.
    """
    fonts = [Path(f) for f in fonts]
    if not fonts:
        raise ValueError("no fonts: install fonts-dejavu-core (or matplotlib)")
    text = clean_text(text)
    if not text:
        raise ValueError("empty text")
    layout = rng.choices(LAYOUTS, weights=LAYOUT_WEIGHTS)[0]
    dark = layout in ("chat", "email") and rng.random() < DARK_P
    if layout == "paper":
        image, _, params = _render_paper(text, rng, fonts)
        blur = rng.uniform(0.3, 1.2) if rng.random() < 0.8 else 0.0
        rotation = 0.0  # rotated as part of the photo (params["rotation"], up to 8 degrees)
        fmt, quality = "jpeg", rng.randint(35, 92)
    else:
        if layout == "chat":
            canvas, params = _render_chat(text, rng, fonts, dark)
        elif layout == "email":
            canvas, params = _render_email(text, rng, fonts, dark)
        else:
            canvas, params = _render_error(text, rng, fonts)
        canvas.check()
        image = canvas.image
        rotation = rng.uniform(-3, 3) if rng.random() < 0.3 else 0.0
        if rotation:
            fill = rng.choice((image.getpixel((0, 0)), (255, 255, 255), (235, 235, 235), (0, 0, 0)))
            image = image.rotate(rotation, resample=Image.BICUBIC, expand=True, fillcolor=fill)
        # shared pictures are often re-scaled; keep the text at least ~14 px tall
        px = params["font_size"] * params["scale"]
        downscale = rng.uniform(max(0.55, 14 / px), 0.9) if rng.random() < 0.25 and px * 0.9 >= 14 else 1.0
        if downscale < 1.0:
            image = image.resize((int(image.width * downscale), int(image.height * downscale)), Image.LANCZOS)
        params["downscale"] = round(downscale, 3)
        blur = rng.uniform(0.2, 1.2) if rng.random() < 0.35 else 0.0
        fmt = "jpeg" if rng.random() < 0.6 else "png"
        quality = rng.randint(35, 95) if fmt == "jpeg" else None
    if blur:
        image = image.filter(ImageFilter.GaussianBlur(blur))
    params = {"layout": layout, "dark": dark, **params}
    params.update(rotation=round(params.get("rotation", rotation), 2), blur=round(blur, 2), format=fmt,
                  jpeg_quality=quality, width=image.width, height=image.height)
    return image, params


def encode_image(image: Image.Image, params: dict) -> tuple[bytes, str]:
    """The image's file bytes in the chosen format, and the file extension (``png``/``jpg``)."""
    buffer = io.BytesIO()
    if params.get("format") == "jpeg":
        image.convert("RGB").save(buffer, "JPEG", quality=int(params.get("jpeg_quality") or 85),
                                  subsampling=2 if int(params.get("jpeg_quality") or 85) < 80 else 0)
        return buffer.getvalue(), "jpg"
    image.save(buffer, "PNG", optimize=False, compress_level=6)
    return buffer.getvalue(), "png"
