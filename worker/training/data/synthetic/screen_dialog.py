"""The app error dialog layout of the synthetic screenshots: the customer's text in the dialog's
message area, or as their note on top of it (:func:`worker.training.data.synthetic.screens.render_screenshot`)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw

from worker.training.data.synthetic.screen_parts import (
    ACCENTS,
    BANKS,
    ERROR_MESSAGES,
    ERROR_TITLES,
    MERCHANTS,
    _Canvas,
    _chrome_fonts,
    _font,
    _jitter,
    _line_height,
    _on,
    wrap,
)

# --- app error -----------------------------------------------------------------------------------


def _render_error(text: str, rng: random.Random, fonts: Sequence[Path]) -> tuple[_Canvas, dict]:
    phone = rng.random() < 0.5
    s = 2 if phone else 1
    logical_w = rng.randint(390, 480) if phone else rng.randint(800, 1400)
    w = logical_w * s
    size = rng.randint(13, 26)
    body_path = rng.choice(fonts)
    ui_path, ui_bold = _chrome_fonts(rng, fonts)
    f_body = _font(str(body_path), size * s)
    f_ui = _font(str(ui_path), 15 * s)
    f_ui_bold = _font(str(ui_bold), 15 * s)
    f_title = _font(str(ui_bold), rng.randint(17, 21) * s)
    f_big = _font(str(ui_bold), 28 * s)
    accent = rng.choice(ACCENTS)
    bank = rng.choice(BANKS)
    mode = rng.choice(("error_area", "note"))
    note_style = rng.choice(("sticky", "markup")) if mode == "note" else ""
    pad = rng.randint(18, 24) * s
    dialog_w = int(w * rng.uniform(0.8, 0.88)) if phone else rng.randint(420, 600)
    inner = dialog_w - 2 * pad
    title = rng.choice(ERROR_TITLES)
    code = rng.choice((f"Error code: E{rng.randint(1000, 9999)}", f"Ref: {rng.randrange(16**4):04X}-"
                       f"{rng.randrange(16**4):04X}", f"(code {rng.randint(100, 599)})",
                       f"Error {rng.choice(('AUTH', 'TXN', 'NET', 'CARD'))}-{rng.randint(10, 999)}"))
    lh_body = _line_height(f_body, rng.uniform(1.15, 1.35))
    lh_ui = _line_height(f_ui, 1.3)
    title_lines = wrap(title, f_title, inner - 50 * s)
    if mode == "error_area":
        message_lines, message_font, message_lh = wrap(text, f_body, inner), f_body, lh_body
    else:
        message_lines, message_font, message_lh = wrap(rng.choice(ERROR_MESSAGES), f_ui, inner), f_ui, lh_ui
    button_h = 40 * s
    icon = 40 * s
    dialog_h = (pad + icon + 12 * s + _line_height(f_title, 1.25) * len(title_lines) + 8 * s
                + message_lh * len(message_lines) + 8 * s + lh_ui + 18 * s + button_h + pad)
    note_lines: list[str] = []
    note_h = note_w = 0
    if mode == "note":
        note_w = int(dialog_w * rng.uniform(0.85, 1.0))
        note_lines = wrap(text, f_body, note_w - 2 * pad)
        note_h = lh_body * len(note_lines) + 2 * pad
    nav_h = 56 * s
    gap = 24 * s
    need = nav_h + gap + dialog_h + (gap + note_h if note_h else 0) + gap
    default_h = int(logical_w * rng.uniform(1.9, 2.17)) * s if phone else rng.randint(600, 900)
    h = max(default_h, need)
    light_bg = _jitter((245, 246, 248), rng, 6)
    c = _Canvas(w, h, light_bg)

    # the app behind the dialog
    c.draw.rectangle((0, 0, w, nav_h), fill=accent)
    c.draw.text((16 * s, nav_h // 2), bank, font=f_title, fill=_on(accent), anchor="lm")
    card = (16 * s, nav_h + 16 * s, w - 16 * s, nav_h + 136 * s)
    c.draw.rounded_rectangle(card, radius=14 * s, fill=(255, 255, 255))
    c.draw.text((card[0] + 16 * s, card[1] + 16 * s), "Available balance", font=f_ui, fill=(110, 110, 110))
    currency = rng.choice("£$€")
    c.draw.text((card[0] + 16 * s, card[1] + 44 * s), f"{currency}{rng.randint(0, 9999):,}.{rng.randint(0, 99):02d}",
                font=f_big, fill=(20, 20, 20))
    y = card[3] + 16 * s
    while y + 50 * s < h:
        merchant = rng.choice(MERCHANTS)
        amount = f"-{currency}{rng.randint(1, 250)}.{rng.randint(0, 99):02d}"
        c.draw.ellipse((16 * s, y + 6 * s, 48 * s, y + 38 * s), fill=_jitter((220, 224, 230), rng, 15))
        c.draw.text((60 * s, y + 8 * s), merchant, font=f_ui_bold, fill=(30, 30, 30))
        c.draw.text((w - 16 * s, y + 8 * s), amount, font=f_ui, fill=(30, 30, 30), anchor="ra")
        c.draw.line((60 * s, y + 48 * s, w - 16 * s, y + 48 * s), fill=(225, 225, 225))
        y += 54 * s
    c.image = Image.blend(c.image, Image.new("RGB", c.image.size, (0, 0, 0)), rng.uniform(0.3, 0.55))
    c.draw = ImageDraw.Draw(c.image)

    # the dialog
    dark_dialog = rng.random() < 0.2
    d_bg, d_fg, d_grey = ((44, 44, 46), (240, 240, 240), (160, 160, 165)) if dark_dialog else \
        ((255, 255, 255), (25, 25, 25), (110, 110, 115))
    block_h = dialog_h + (gap + note_h if note_h else 0)
    dy = max(nav_h + gap, (h - block_h) // 2)
    dx = (w - dialog_w) // 2
    c.draw.rounded_rectangle((dx + 3 * s, dy + 5 * s, dx + dialog_w + 3 * s, dy + dialog_h + 5 * s),
                             radius=14 * s, fill=(25, 25, 25))
    c.draw.rounded_rectangle((dx, dy, dx + dialog_w, dy + dialog_h), radius=14 * s, fill=d_bg)
    y = dy + pad
    red = rng.choice(((214, 48, 49), (229, 57, 53), (255, 149, 0)))
    icx = dx + dialog_w // 2 if phone else dx + pad + icon // 2
    if rng.random() < 0.5:
        c.draw.ellipse((icx - icon // 2, y, icx + icon // 2, y + icon), fill=red)
    else:
        c.draw.polygon(((icx, y), (icx + icon // 2, y + icon), (icx - icon // 2, y + icon)), fill=red)
    c.draw.text((icx, y + icon // 2 + 3 * s), "!", font=_font(str(ui_bold), 24 * s), fill=(255, 255, 255), anchor="mm")
    y += icon + 12 * s
    align = "center" if phone else "left"
    y = c.lines((dx + pad, y), title_lines, f_title, _line_height(f_title, 1.25), d_fg, align=align, width=inner)
    y += 8 * s
    y = c.lines((dx + pad, y), message_lines, message_font, message_lh, d_fg if mode == "error_area" else d_grey,
                customer=mode == "error_area", align=align, width=inner)
    y += 8 * s
    c.lines((dx + pad, y), [code], _font(str(ui_path), 13 * s), lh_ui, d_grey, align=align, width=inner)
    by = dy + dialog_h - pad - button_h
    labels = rng.choice((("Cancel", "OK"), ("Close", "Try again"), ("Cancel", "Retry"), ("", "OK")))
    bw = (inner - 12 * s) // 2
    for i, label in enumerate(labels):
        if not label:
            continue
        bx = dx + pad + i * (bw + 12 * s)
        primary = i == 1
        c.draw.rounded_rectangle((bx, by, bx + bw, by + button_h), radius=8 * s, fill=accent if primary else d_bg,
                                 outline=accent, width=max(1, s))
        c.draw.text((bx + bw // 2, by + button_h // 2), label, font=f_ui_bold,
                    fill=_on(accent) if primary else accent, anchor="mm")
    # the customer's note on the screenshot
    if mode == "note":
        ny = dy + dialog_h + gap
        nx = (w - note_w) // 2
        if note_style == "sticky":
            paper = _jitter((255, 241, 118), rng, 10)
            c.draw.rectangle((nx + 4 * s, ny + 4 * s, nx + note_w + 4 * s, ny + note_h + 4 * s), fill=(0, 0, 0))
            c.draw.rectangle((nx, ny, nx + note_w, ny + note_h), fill=paper)
            ink = rng.choice(((20, 20, 20), (20, 40, 120)))
        else:
            c.draw.rectangle((nx, ny, nx + note_w, ny + note_h), fill=(255, 255, 255), outline=red, width=3 * s)
            c.draw.rectangle((dx - 6 * s, dy - 6 * s, dx + dialog_w + 6 * s, dy + dialog_h + 6 * s), outline=red,
                             width=3 * s)
            ink = red
        c.lines((nx + pad, ny + pad), note_lines, f_body, lh_body, ink, customer=True)
    params = {"device": "phone" if phone else "desktop", "scale": s, "font": body_path.name, "font_size": size,
              "ui_font": ui_path.name, "mode": mode, "note_style": note_style, "title": title}
    return c, params
