"""The message layouts of the synthetic screenshots: a phone chat app and an e-mail client, each
light or dark (:func:`worker.training.data.synthetic.screens.render_screenshot` picks one)."""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from pathlib import Path

from worker.training.data.synthetic.screen_parts import (
    ACCENTS,
    AGENT_GREETINGS,
    BANKS,
    EMAIL_SUBJECTS,
    GREETINGS,
    INBOX_SNIPPETS,
    SIGN_OFFS,
    _Canvas,
    _chrome_fonts,
    _clock,
    _font,
    _jitter,
    _later,
    _line_height,
    _name,
    _on,
    _text_width,
    wrap,
)

# --- chat ----------------------------------------------------------------------------------------


def _split_bubbles(text: str, rng: random.Random) -> list[str]:
    sentences = [s for s in re.split(r"(?<=[.?!])\s+", text) if s]
    if len(sentences) >= 2 and rng.random() < 0.55:
        cut = rng.randint(1, len(sentences) - 1)
        return [" ".join(sentences[:cut]), " ".join(sentences[cut:])]
    return [text]


def _status_bar(c: _Canvas, rng: random.Random, y: int, h: int, s: int, w: int, font, fg, clock: str) -> None:
    clock = clock.split()[0]
    c.draw.text((int(26 * s), y + h // 2), clock, font=font, fill=fg, anchor="lm")
    # battery
    bw, bh = 25 * s, 12 * s
    bx, by = w - 22 * s - bw, y + (h - bh) // 2
    level = rng.randint(8, 100)
    c.draw.rounded_rectangle((bx, by, bx + bw, by + bh), radius=3 * s, outline=fg, width=max(1, s))
    c.draw.rectangle((bx + bw + s, by + 4 * s, bx + bw + 2 * s, by + bh - 4 * s), fill=fg)
    fill = (235, 64, 52) if level < 20 else fg
    c.draw.rectangle((bx + 2 * s, by + 2 * s, bx + 2 * s + int((bw - 4 * s) * level / 100), by + bh - 2 * s),
                     fill=fill)
    x = bx - 6 * s
    if rng.random() < 0.5:
        pct = f"{level}%"
        small = _font(font.path, int(font.size * 0.8))
        x -= int(small.getlength(pct))
        c.draw.text((x, y + h // 2), pct, font=small, fill=fg, anchor="lm")
        x -= 6 * s
    # wifi: three arcs
    cx, cy = x - 9 * s, y + h // 2 + 5 * s
    for r in (4, 8, 12):
        c.draw.arc((cx - r * s, cy - r * s, cx + r * s, cy + r * s), 225, 315, fill=fg, width=max(1, 2 * s))
    # signal bars
    x = cx - 16 * s - 18 * s
    for i in range(4):
        bar_h = (4 + 2 * i) * s
        colour = fg if i < rng.randint(2, 4) else (150, 150, 150)
        c.draw.rectangle((x + i * 5 * s, cy - bar_h, x + i * 5 * s + 3 * s, cy), fill=colour)


def _render_chat(text: str, rng: random.Random, fonts: Sequence[Path], dark: bool) -> tuple[_Canvas, dict]:
    s = 2
    logical_w = rng.randint(390, 480)
    w = logical_w * s
    size = rng.randint(13, 26)
    body_path = rng.choice(fonts)
    ui_path, ui_bold = _chrome_fonts(rng, fonts)
    f_body = _font(str(body_path), size * s)
    f_small = _font(str(ui_path), rng.randint(11, 13) * s)
    f_status = _font(str(ui_bold), 15 * s)
    f_name = _font(str(ui_bold), rng.randint(16, 18) * s)
    f_sub = _font(str(ui_path), 12 * s)
    f_input = _font(str(ui_path), rng.randint(15, 17) * s)
    accent = rng.choice(ACCENTS)
    style = rng.choice(("ios", "whatsapp", "messenger", "plain"))
    if dark:
        bg = rng.choice(((0, 0, 0), (18, 18, 18), (11, 20, 26), (28, 28, 30)))
        bar_bg = _jitter((28, 28, 30), rng, 6)
        fg, grey = (240, 240, 240), (142, 142, 147)
        agent_bg = rng.choice(((38, 38, 40), (31, 44, 52), (48, 48, 52)))
        mine_bg = rng.choice(((0, 92, 75), (10, 132, 255), accent))
    else:
        bg = rng.choice(((255, 255, 255), (242, 242, 247), (236, 229, 221), (246, 246, 246)))
        bar_bg = _jitter((247, 247, 247), rng, 5)
        fg, grey = (17, 17, 17), (120, 120, 128)
        agent_bg = rng.choice(((229, 229, 234), (255, 255, 255), (240, 240, 240)))
        mine_bg = rng.choice(((220, 248, 198), accent, accent, (0, 122, 255)))
    if agent_bg == bg:
        agent_bg = _jitter((233, 233, 237) if not dark else (44, 44, 46), rng, 4)
    mine_fg, agent_fg = _on(mine_bg), _on(agent_bg)
    bank = rng.choice(BANKS)
    agent_first, _ = _name(rng)
    contact = rng.choice((bank, f"{bank} Support", "Customer Support", "Support", f"{agent_first} ({bank})",
                          "Help Centre"))
    clock, hour, minute = _clock(rng)
    twelve = clock.endswith("M")
    daypart = "morning" if hour < 12 else "afternoon" if hour < 18 else "evening"
    greeting = rng.choice(AGENT_GREETINGS).format(bank=bank, agent=agent_first, daypart=daypart)

    pad_x, pad_y = rng.randint(10, 14) * s, rng.randint(7, 10) * s
    radius = rng.randint(14, 20) * s
    max_bubble = int(w * rng.uniform(0.7, 0.8))
    spacing = rng.uniform(1.1, 1.3)
    lh_body = _line_height(f_body, spacing)
    agent_font = _font(str(ui_path), max(14, min(size, 18)) * s)
    lh_agent = _line_height(agent_font, 1.2)
    margin = rng.randint(10, 16) * s
    parts = _split_bubbles(text, rng)

    items: list[tuple[int, Callable[[_Canvas, int], None]]] = []
    gap = rng.randint(6, 10) * s

    day = rng.choice(("Today", "Today", "Yesterday", "Mon", "Tue, 12 Mar", "Fri 3 May"))
    chip_h = 22 * s

    def draw_chip(c: _Canvas, y: int) -> None:
        tw = int(f_small.getlength(day)) + 20 * s
        x0 = (w - tw) // 2
        if style in ("whatsapp", "plain"):
            c.draw.rounded_rectangle((x0, y, x0 + tw, y + chip_h), radius=8 * s,
                                     fill=_jitter(agent_bg, rng, 4))
        c.draw.text((w // 2, y + chip_h // 2), day, font=f_small, fill=grey, anchor="mm")

    items.append((chip_h, draw_chip))

    def bubble(lines: list[str], font, lh: int, mine: bool, fill, ink, customer: bool) -> None:
        bw = _text_width(lines, font) + 2 * pad_x
        bh = lh * len(lines) + 2 * pad_y

        def draw_bubble(c: _Canvas, y: int) -> None:
            x0 = w - margin - bw if mine else margin
            c.draw.rounded_rectangle((x0, y, x0 + bw, y + bh), radius=min(radius, bh // 2), fill=fill)
            c.lines((x0 + pad_x, y + pad_y), lines, font, lh, ink, customer=customer)

        items.append((bh, draw_bubble))

    def meta(label: str, right: bool) -> None:
        mh = _line_height(f_small, 1.1)

        def draw_meta(c: _Canvas, y: int) -> None:
            if right:
                c.draw.text((w - margin - 4 * s, y), label, font=f_small, fill=grey, anchor="ra")
            else:
                c.draw.text((margin + 4 * s, y), label, font=f_small, fill=grey, anchor="la")

        items.append((mh, draw_meta))

    bubble(wrap(greeting, agent_font, max_bubble - 2 * pad_x), agent_font, lh_agent, False, agent_bg,
           agent_fg, False)
    meta(f"{bank if rng.random() < 0.3 else agent_first} · {clock}" if rng.random() < 0.5 else clock, False)
    for part in parts:
        bubble(wrap(part, f_body, max_bubble - 2 * pad_x), f_body, lh_body, True, mine_bg, mine_fg, True)
    sent = _later(hour, minute, rng, twelve)
    meta(rng.choice(("Delivered", "Read", f"Read {sent}", f"{sent} · Delivered", "Seen", sent)), True)

    status_h, header_h, input_h = rng.randint(44, 54) * s, rng.randint(56, 66) * s, rng.randint(54, 66) * s
    home_h = 22 * s if rng.random() < 0.6 else 6 * s
    content_h = sum(h for h, _ in items) + gap * (len(items) - 1)
    top, bottom_chrome = status_h + header_h, input_h + home_h
    default_h = int(logical_w * rng.uniform(1.9, 2.17)) * s
    h = max(default_h, top + content_h + bottom_chrome + 2 * gap)
    c = _Canvas(w, h, bg)

    # chrome
    c.draw.rectangle((0, 0, w, top), fill=bar_bg)
    _status_bar(c, rng, 0, status_h, s, w, f_status, fg, _later(hour, minute + 2, rng, twelve))
    hy = status_h
    c.draw.line((0, top - 1, w, top - 1), fill=_jitter(grey, rng, 10), width=1)
    cy = hy + header_h // 2
    c.draw.line(((22 * s, cy - 9 * s), (13 * s, cy), (22 * s, cy + 9 * s)), fill=accent, width=3 * s)
    av = 38 * s
    ax = 34 * s
    c.draw.ellipse((ax, cy - av // 2, ax + av, cy + av // 2), fill=_jitter(accent, rng, 30))
    initials = "".join(word[0] for word in re.findall(r"[A-Za-z]+", contact)[:2]).upper() or "S"
    c.draw.text((ax + av // 2, cy), initials, font=_font(str(ui_bold), 15 * s), fill=(255, 255, 255), anchor="mm")
    nx = ax + av + 10 * s
    subtitle = rng.choice(("online", "Active now", "Typically replies in minutes", "Business account",
                           "last seen today", ""))
    if subtitle:
        c.draw.text((nx, cy - 2 * s), contact, font=f_name, fill=fg, anchor="ld")
        c.draw.text((nx, cy + 2 * s), subtitle, font=f_sub, fill=grey, anchor="la")
    else:
        c.draw.text((nx, cy), contact, font=f_name, fill=fg, anchor="lm")
    for i in range(3):  # overflow menu
        c.draw.ellipse((w - 20 * s - 2 * s, cy - 9 * s + i * 8 * s, w - 20 * s + 2 * s, cy - 5 * s + i * 8 * s),
                       fill=accent)
    # input bar
    iy = h - bottom_chrome
    c.draw.rectangle((0, iy, w, h), fill=bar_bg)
    c.draw.line((0, iy, w, iy), fill=_jitter(grey, rng, 10), width=1)
    c.draw.text((20 * s, iy + input_h // 2), "+", font=_font(str(ui_path), 28 * s), fill=accent, anchor="mm")
    field = (40 * s, iy + 10 * s, w - 52 * s, iy + input_h - 10 * s)
    c.draw.rounded_rectangle(field, radius=(field[3] - field[1]) // 2, fill=bg if not dark else (44, 44, 46),
                             outline=_jitter(grey, rng, 20), width=max(1, s // 2))
    placeholder = rng.choice(("Type a message", "Message", "Write a message…", "Aa", "Type your message"))
    c.draw.text((field[0] + 14 * s, (field[1] + field[3]) // 2), placeholder, font=f_input, fill=grey, anchor="lm")
    sx, sy, sr = w - 26 * s, iy + input_h // 2, 15 * s
    c.draw.ellipse((sx - sr, sy - sr, sx + sr, sy + sr), fill=accent)
    c.draw.polygon(((sx - 6 * s, sy - 7 * s), (sx + 8 * s, sy), (sx - 6 * s, sy + 7 * s)), fill=(255, 255, 255))
    if home_h > 10 * s:
        c.draw.rounded_rectangle((w // 2 - 67 * s, h - 12 * s, w // 2 + 67 * s, h - 7 * s), radius=3 * s, fill=fg)

    # messages, stacked against the input bar
    y = max(top + gap, iy - gap - content_h)
    for height, draw_item in items:
        draw_item(c, y)
        y += height + gap
    params = {"device": "phone", "style": style, "scale": s, "font": body_path.name, "font_size": size,
              "ui_font": ui_path.name, "bubbles": len(parts), "accent": list(accent)}
    return c, params


# --- e-mail --------------------------------------------------------------------------------------


def _render_email(text: str, rng: random.Random, fonts: Sequence[Path], dark: bool) -> tuple[_Canvas, dict]:
    w = rng.randint(800, 1400)
    size = rng.randint(13, 26)
    body_path = rng.choice(fonts)
    ui_path, ui_bold = _chrome_fonts(rng, fonts)
    f_body = _font(str(body_path), size)
    ui_size = rng.randint(13, 15)
    f_ui, f_ui_bold = _font(str(ui_path), ui_size), _font(str(ui_bold), ui_size)
    f_subject = _font(str(ui_bold), rng.randint(18, 24))
    accent = rng.choice(ACCENTS)
    if dark:
        bg, side_bg, bar_bg = (32, 33, 36), (41, 42, 45), (24, 24, 26)
        fg, grey, line = (232, 234, 237), (154, 160, 166), (60, 64, 67)
    else:
        bg, side_bg, bar_bg = (255, 255, 255), _jitter((246, 248, 252), rng, 5), _jitter((238, 240, 243), rng, 6)
        fg, grey, line = (32, 33, 36), (95, 99, 104), (218, 220, 224)
    first, last = _name(rng)
    sender = f"{first} {last}"
    address = f"{first.lower()}.{last.lower().replace('ü', 'u')}{rng.choice(('', '', '84', '.uk', '22'))}@" + rng.choice(
        ("gmail.com", "outlook.com", "yahoo.co.uk", "icloud.com", "proton.me", "example.com"))
    bank = rng.choice(BANKS)
    support = f"support@{re.sub(r'[^a-z]', '', bank.lower())}.com"
    subject = rng.choice(EMAIL_SUBJECTS)
    clock, hour, minute = _clock(rng)
    day = rng.randint(1, 28)
    date = rng.choice((f"{rng.choice(('Mon', 'Tue', 'Wed', 'Thu', 'Fri'))}, {day} "
                       f"{rng.choice(('Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Sep', 'Oct'))} 2024, {clock}",
                       f"{day:02d}/{rng.randint(1, 12):02d}/2024 {clock}", f"Today, {clock}", clock))
    title_h = rng.randint(28, 36)
    toolbar_h = rng.randint(44, 52)
    sidebar_w = rng.randint(180, 240) if rng.random() < 0.7 else 0
    list_w = rng.randint(260, 320) if rng.random() < 0.35 and w - sidebar_w >= 960 else 0
    pane_x = sidebar_w + list_w
    margin = rng.randint(20, 36)
    body_w = min(w - pane_x - 2 * margin, rng.randint(560, 900))
    spacing = rng.uniform(1.15, 1.45)
    lh = _line_height(f_body, spacing)
    lh_ui = _line_height(f_ui, 1.35)
    greeting = rng.choice(GREETINGS) if rng.random() < 0.85 else ""
    sign_off = rng.choice(SIGN_OFFS) if rng.random() < 0.85 else ""
    sign_name = rng.choice((first, sender, first[0])) if sign_off or rng.random() < 0.5 else ""
    footer = rng.choice(("Sent from my iPhone", "Get Outlook for Android", "Sent from my Galaxy")) \
        if rng.random() < 0.2 else ""
    lines = wrap(text, f_body, body_w)
    header_style = rng.choice(("classic", "modern"))
    header_lines = 4 if header_style == "classic" else 2
    header_h = (_line_height(f_subject, 1.3) if header_style == "modern" else 0) + lh_ui * header_lines + 18
    body_h = lh * (len(lines) + (2 if greeting else 0) + (1 if sign_off or sign_name else 0)
                   + (1 if sign_off else 0) + (2 if sign_name else 0) + (2 if footer else 0))
    top = title_h + toolbar_h
    need = top + margin + header_h + 16 + body_h + margin
    h = max(rng.randint(560, 900), need)
    c = _Canvas(w, h, bg)

    # window title and toolbar
    c.draw.rectangle((0, 0, w, title_h), fill=bar_bg)
    if rng.random() < 0.5:
        for i, colour in enumerate(((255, 95, 86), (255, 189, 46), (39, 201, 63))):
            cx = 16 + i * 20
            c.draw.ellipse((cx - 6, title_h // 2 - 6, cx + 6, title_h // 2 + 6), fill=colour)
    else:
        my = title_h // 2
        c.draw.line((w - 22, my - 5, w - 12, my + 5), fill=grey, width=1)  # close
        c.draw.line((w - 22, my + 5, w - 12, my - 5), fill=grey, width=1)
        c.draw.rectangle((w - 62, my - 5, w - 52, my + 5), outline=grey)  # maximise
        c.draw.line((w - 102, my, w - 92, my), fill=grey, width=1)  # minimise
    app = rng.choice(("Mail", "Inbox", "Outlook", "Thunderbird", "Webmail"))
    c.draw.text((w // 2, title_h // 2), f"{subject or '(no subject)'} - {app}", font=f_ui, fill=grey, anchor="mm")
    c.draw.rectangle((0, title_h, w, top), fill=side_bg if not dark else (36, 37, 40))
    c.draw.line((0, top - 1, w, top - 1), fill=line)
    x = pane_x + margin if pane_x else 16
    for label in rng.sample(("Reply", "Reply all", "Forward", "Archive", "Delete", "Move", "Flag", "Mark unread"),
                            k=rng.randint(3, 6)):
        tw = int(f_ui.getlength(label)) + 20
        if x + tw > w - 220:
            break
        c.draw.rounded_rectangle((x, title_h + 8, x + tw, top - 8), radius=6, outline=line, fill=bg)
        c.draw.text((x + tw // 2, title_h + toolbar_h // 2), label, font=f_ui, fill=fg, anchor="mm")
        x += tw + 8
    c.draw.rounded_rectangle((w - 210, title_h + 9, w - 14, top - 9), radius=12, fill=bg, outline=line)
    c.draw.text((w - 196, title_h + toolbar_h // 2), "Search mail", font=f_ui, fill=grey, anchor="lm")

    # sidebar and message list
    if sidebar_w:
        c.draw.rectangle((0, top, sidebar_w, h), fill=side_bg)
        c.draw.rounded_rectangle((14, top + 14, sidebar_w - 40, top + 54), radius=16, fill=accent)
        c.draw.text((30, top + 34), rng.choice(("Compose", "New mail", "New message")), font=f_ui_bold,
                    fill=_on(accent), anchor="lm")
        y = top + 72
        for i, folder in enumerate(("Inbox", "Starred", "Sent", "Drafts", "Spam", "Trash")):
            if i == 0:
                c.draw.rounded_rectangle((6, y - 4, sidebar_w - 8, y + lh_ui), radius=8,
                                         fill=_jitter((211, 227, 253) if not dark else (65, 69, 80), rng, 5))
            c.draw.text((24, y), folder, font=f_ui_bold if i == 0 else f_ui, fill=fg)
            if i == 0:
                c.draw.text((sidebar_w - 20, y), str(rng.randint(1, 40)), font=f_ui, fill=fg, anchor="ra")
            y += lh_ui + 10
    if list_w:
        c.draw.line((sidebar_w + list_w, top, sidebar_w + list_w, h), fill=line)
        y = top + 12
        entries = [(sender, subject or "(no subject)")] + rng.sample(INBOX_SNIPPETS, k=4)
        for i, (who, what) in enumerate(entries):
            if y + 2 * lh_ui > h:
                break
            if i == 0:
                c.draw.rectangle((sidebar_w, y - 6, sidebar_w + list_w - 1, y + 2 * lh_ui + 2),
                                 fill=_jitter((232, 240, 254) if not dark else (50, 54, 62), rng, 4))
            c.draw.text((sidebar_w + 14, y), who, font=f_ui_bold, fill=fg)
            c.draw.text((sidebar_w + 14, y + lh_ui), what, font=f_ui, fill=grey)
            y += 2 * lh_ui + 16
            c.draw.line((sidebar_w + 8, y - 8, sidebar_w + list_w - 8, y - 8), fill=line)

    # reading pane
    x0, y = pane_x + margin, top + margin
    if header_style == "modern":
        c.draw.text((x0, y), subject or "(no subject)", font=f_subject, fill=fg)
        y += _line_height(f_subject, 1.3)
        av = 2 * lh_ui - 6
        c.draw.ellipse((x0, y, x0 + av, y + av), fill=_jitter(accent, rng, 40))
        c.draw.text((x0 + av // 2, y + av // 2), first[0], font=f_ui_bold, fill=(255, 255, 255), anchor="mm")
        c.draw.text((x0 + av + 10, y), sender, font=f_ui_bold, fill=fg)
        c.draw.text((x0 + av + 14 + f_ui_bold.getlength(sender), y), f"<{address}>", font=f_ui, fill=grey)
        c.draw.text((x0 + av + 10, y + lh_ui), f"to {rng.choice(('me', support, 'Support'))}", font=f_ui, fill=grey)
        c.draw.text((w - margin, y), date, font=f_ui, fill=grey, anchor="ra")
        y += 2 * lh_ui + 18
    else:
        for label, value in (("From:", f"{sender} <{address}>"), ("Sent:" if rng.random() < 0.5 else "Date:", date),
                             ("To:", support), ("Subject:", subject)):
            c.draw.text((x0, y), label, font=f_ui_bold, fill=fg)
            c.draw.text((x0 + 80, y), value, font=f_ui, fill=fg)
            y += lh_ui
        y += 18
    c.draw.line((x0, y - 9, w - margin, y - 9), fill=line)
    y += 16
    if greeting:
        c.draw.text((x0, y), greeting, font=f_body, fill=fg)
        y += 2 * lh
    y = c.lines((x0, y), lines, f_body, lh, fg, customer=True)
    y += lh if sign_off or sign_name else 0
    if sign_off:
        c.draw.text((x0, y), sign_off, font=f_body, fill=fg)
        y += lh
    if sign_name:
        c.draw.text((x0, y), sign_name, font=f_body, fill=fg)
        y += 2 * lh
    if footer:
        c.draw.text((x0, y), footer, font=f_body, fill=grey)
    params = {"device": "desktop", "scale": 1, "font": body_path.name, "font_size": size, "ui_font": ui_path.name,
              "header_style": header_style, "subject": subject, "sidebar": bool(sidebar_w), "message_list": bool(list_w)}
    return c, params
