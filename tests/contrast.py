"""Accessibility checks on a page open in Playwright's Chromium (适老化), for any browser test:

    from contrast import contrast_failures, small_tap_targets
    assert contrast_failures(page, 7.0) == []     # every visible text ≥ 7:1 (WCAG AAA)
    assert small_tap_targets(page, 44) == []      # every control and stand-alone link ≥ 44 px

Contrast: each visible element that holds text directly, its computed colour against the
background actually behind it (the nearest ancestor with a background colour, semi-transparent
layers composited), by the WCAG 2 relative-luminance formula. Text over a background image is
not judged. Tap targets: buttons, inputs (a checkbox or radio by its label), selects, summaries
and links that stand alone (not inside a sentence: a link inside <p> or <dd> is exempt, as in
WCAG 2.5.8); the height and the width of the box must both reach the minimum.
"""
from __future__ import annotations

_CONTRAST_JS = r"""
(minimum) => {
  const parse = (c) => {
    const m = c.match(/rgba?\(([^)]+)\)/);
    if (!m) return [0, 0, 0, 0];
    const p = m[1].split(/[ ,\/]+/).filter(Boolean).map(Number);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  };
  const over = (top, under) => [0, 1, 2].map(i => top[i] * top[3] + under[i] * (1 - top[3])).concat([1]);
  const channel = (x) => { x /= 255; return x <= 0.03928 ? x / 12.92 : Math.pow((x + 0.055) / 1.055, 2.4); };
  const lum = (c) => {
    const v = c.slice(0, 3).map(channel);
    return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2];
  };
  const ratio = (a, b) => {
    const [l1, l2] = [lum(a), lum(b)].sort((x, y) => y - x);
    return (l1 + 0.05) / (l2 + 0.05);
  };
  const background = (el) => {
    const layers = [];
    for (let node = el; node && node.nodeType === 1; node = node.parentElement) {
      const style = getComputedStyle(node);
      if (style.backgroundImage && style.backgroundImage !== 'none') return null;
      const bg = parse(style.backgroundColor);
      if (bg[3] > 0) { layers.push(bg); if (bg[3] >= 1) break; }
    }
    let colour = [255, 255, 255, 1];  // the canvas
    for (const layer of layers.reverse()) colour = over(layer, colour);
    return colour;
  };
  const failures = [];
  for (const el of document.querySelectorAll('body *')) {
    const own = [...el.childNodes].filter(n => n.nodeType === 3 && n.textContent.trim())
      .map(n => n.textContent.trim()).join(' ');
    if (!own) continue;
    const rect = el.getBoundingClientRect(), style = getComputedStyle(el);
    if (rect.width === 0 || rect.height === 0) continue;
    if (style.visibility === 'hidden' || style.display === 'none') continue;
    if (style.clip === 'rect(0px, 0px, 0px, 0px)' || rect.right < 0 || rect.bottom < 0) continue;
    const bg = background(el);
    if (!bg) continue;
    const fg = over(parse(style.color), bg);
    const r = ratio(fg, bg);
    const behind = 'rgb(' + bg.slice(0, 3).map(Math.round).join(', ') + ')';
    if (r < minimum) failures.push({text: own.slice(0, 30), ratio: Math.round(r * 100) / 100,
                                    color: style.color, background: behind});
  }
  return failures;
}
"""

_TAP_JS = r"""
(minimum) => {
  const small = [];
  const inSentence = (a) => !!a.closest('p, dd, td');
  const selector = 'button, select, summary, input:not([type=hidden]), a[href]';
  const targets = [...document.querySelectorAll(selector)];
  for (const el of targets) {
    if (el.tagName === 'A' && inSentence(el)) continue;
    let box = el;
    if (el.tagName === 'INPUT' && /^(checkbox|radio)$/.test(el.type)) box = el.closest('label') || el;
    const rect = box.getBoundingClientRect(), style = getComputedStyle(box);
    if (rect.width === 0 || rect.height === 0 || style.visibility === 'hidden' || rect.right < 0) continue;
    if (rect.height < minimum - 0.5 || rect.width < minimum - 0.5)
      small.push({element: el.tagName.toLowerCase() + (el.type ? '[' + el.type + ']' : ''),
                  text: (box.innerText || el.value || '').trim().slice(0, 20),
                  width: Math.round(rect.width), height: Math.round(rect.height)});
  }
  return small;
}
"""


def contrast_failures(page, minimum: float = 7.0) -> list[dict]:
    """Texts below `minimum`:1 against what is behind them: [{text, ratio, color, background}]."""
    return page.evaluate(_CONTRAST_JS, minimum)


def small_tap_targets(page, minimum: float = 44) -> list[dict]:
    """Controls and stand-alone links smaller than `minimum` px: [{element, text, width, height}]."""
    return page.evaluate(_TAP_JS, minimum)


def set_reading_mode(page, large: bool = True, contrast: bool = True) -> None:
    """Switch the H5 pages' 大字模式 / 高对比度 as a resident would, with their buttons."""
    for button, wanted in (("#font-toggle", large), ("#contrast-toggle", contrast)):
        if (page.get_attribute(button, "aria-pressed") == "true") != wanted:
            page.click(button)
