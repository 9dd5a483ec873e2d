"""The demo's report measured in a real headless Chromium: phone, desktop and print (PDF).

Every assertion is a measurement the browser makes on the laid-out page (widths, line boxes, text boxes of the
charts), or on the text of the PDF it prints. Screenshots at 390 and 1400 px and the PDF are kept in
test-artifacts/ for a person to look at.
"""

from __future__ import annotations

import re
import shutil
import string
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import pypdf
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from playwright.sync_api import sync_playwright

from dupfinder import api, charts
from dupfinder.sqltemplates import resource_dir

pytestmark = pytest.mark.browser

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

# Measures the laid-out page: what overflows, what wraps into too narrow a column, what word is split.
LAYOUT_PROBE = r"""
() => {
  const visible = (el) => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== "hidden";
  const lineTops = (node) => {
    const range = document.createRange();
    range.selectNodeContents(node);
    const tops = new Set();
    for (const r of range.getClientRects()) if (r.width > 0.5) tops.add(Math.round(r.top));
    return tops;
  };
  const charWidth = (el) => {
    const probe = document.createElement("span");
    probe.textContent = "0000000000";
    probe.style.cssText = "position:absolute;visibility:hidden;white-space:nowrap";
    el.appendChild(probe);
    const w = probe.getBoundingClientRect().width / 10;
    probe.remove();
    return w;
  };
  const out = {scrollWidth: document.scrollingElement.scrollWidth, innerWidth: window.innerWidth,
               narrow: [], split: [], wrapped: [], checked: 0};
  const texts = "td, th, p, li, summary, h1, h2, h3, h4, dt, dd, figcaption";
  for (const el of document.querySelectorAll(texts)) {
    if (!visible(el) || el.closest("pre") || !el.textContent.trim()) continue;
    out.checked++;
    const style = getComputedStyle(el);
    const content = el.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
    if (lineTops(el).size > 1 && content < 8 * charWidth(el)) {
      out.narrow.push([el.tagName, el.textContent.trim().slice(0, 40), Math.round(content)]);
    }
    if (el.closest(".breakable, code")) continue;
    // every word of the element's own text sits on one line
    const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      if (node.parentElement.closest(".breakable, code, svg")) continue;
      if (node.parentElement.closest(texts) !== el) continue;
      for (const m of node.data.matchAll(/\S+/g)) {
        const range = document.createRange();
        range.setStart(node, m.index);
        range.setEnd(node, m.index + m[0].length);
        const tops = new Set([...range.getClientRects()].filter(r => r.width > 0.5).map(r => Math.round(r.top)));
        // prose may break a plain word at its hyphen or slash; nothing else is ever split
        const plain = !/[0-9]/.test(m[0]) && !node.parentElement.closest("td, th, dt, dd, .num, .ts, .id");
        if (tops.size > 1 && !(plain && /^[^-\/]+([-\/][^-\/]+)+$/.test(m[0].replace(/[.,:;()]/g, ""))))
          out.split.push([el.tagName, m[0]]);
      }
    }
  }
  out.overflowing = [...document.querySelectorAll("tbody td")]
    .filter(td => visible(td) && td.scrollWidth > td.clientWidth + 1)
    .map(td => [td.dataset.label, td.textContent.trim().slice(0, 40), td.scrollWidth, td.clientWidth]);
  for (const el of document.querySelectorAll(".num, .ts, .id, .nowrap")) {
    if (visible(el) && lineTops(el).size > 1) out.wrapped.push(el.textContent.trim().slice(0, 40));
  }
  return out;
}
"""

# Every label of every chart on screen: inside its chart, legible, clear of the other labels and of the bars.
CHART_PROBE = r"""
() => {
  const inter = (a, b) => Math.max(0, Math.min(a.right, b.right) - Math.max(a.left, b.left)) *
                          Math.max(0, Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top));
  const out = {charts: 0, wide: 0, narrow: 0, cut: [], small: [], overlap: [], onBar: []};
  for (const svg of document.querySelectorAll("svg.chart")) {
    if (svg.getClientRects().length === 0) continue;
    out.charts++;
    if (svg.classList.contains("wide")) out.wide++; else out.narrow++;
    const box = svg.getBoundingClientRect();
    const scale = box.width / svg.viewBox.baseVal.width;
    const labels = [...svg.querySelectorAll("text")].map(t => [t.textContent, t.getBoundingClientRect(),
                                                               parseFloat(t.getAttribute("font-size")) * scale]);
    const bars = [...svg.querySelectorAll("rect")].map(r => r.getBoundingClientRect()).filter(r => r.height > 0);
    for (const [text, r, size] of labels) {
      if (r.left < box.left - 0.5 || r.right > box.right + 0.5 || r.top < box.top - 0.5 || r.bottom > box.bottom + 0.5)
        out.cut.push(text);
      if (size < 9) out.small.push([text, size]);
      for (const bar of bars) if (inter(r, bar) > 4) out.onBar.push(text);
    }
    for (let i = 0; i < labels.length; i++)
      for (let j = i + 1; j < labels.length; j++)
        if (inter(labels[i][1], labels[j][1]) > 1) out.overlap.push([labels[i][0], labels[j][0]]);
  }
  return out;
}
"""


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return api.demo(tmp_path_factory.mktemp("report-browser"))


@pytest.fixture(scope="module")
def browser():
    if not Path("/usr/bin/chromium").exists() and not shutil.which("chromium"):
        pytest.fail("chromium not installed (.ci/system-deps installs it)")
    executable = shutil.which("chromium") or "/usr/bin/chromium"
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def _open(browser, demo, width: int, javascript: bool = True):
    context = browser.new_context(viewport={"width": width, "height": 900}, java_script_enabled=javascript)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(demo.files["report.html"].resolve().as_uri())
    return context, page, errors


@pytest.mark.parametrize("width", [360, 390, 1400])
def test_layout_holds_at_every_width(browser, demo, width, artifacts):
    context, page, errors = _open(browser, demo, width)
    page.evaluate("document.querySelectorAll('details.cluster').forEach(d => d.open = true)")
    found = page.evaluate(LAYOUT_PROBE)
    if width in (390, 1400):
        page.evaluate("document.querySelectorAll('details.cluster').forEach((d, i) => d.open = i % 40 < 3)")
        page.screenshot(path=str(artifacts / f"report-{width}.png"), full_page=True)
    context.close()
    assert errors == []
    assert found["checked"] > 500
    assert found["scrollWidth"] <= found["innerWidth"], found
    assert found["narrow"] == [], found["narrow"][:10]
    assert found["split"] == [], found["split"][:10]
    assert found["wrapped"] == [], found["wrapped"][:10]
    assert found["overflowing"] == [], found["overflowing"][:10]  # every value fits its cell or card


@pytest.mark.parametrize("width", [390, 700, 1400])
def test_charts_are_legible_and_uncut(browser, demo, width):
    context, page, _ = _open(browser, demo, width)
    found = page.evaluate(CHART_PROBE)
    context.close()
    # gaps, clusters per day and one timeline per incident, drawn for the width they are read at
    incidents = sum(len(t["incidents"]) for t in demo.findings["tables"])
    assert found["charts"] == 2 + incidents
    assert (found["narrow"], found["wide"]) == ((found["charts"], 0) if width <= 900 else (0, found["charts"]))
    assert found["cut"] == [] and found["small"] == [] and found["overlap"] == [] and found["onBar"] == [], found


def test_h1_states_the_verdict_and_incidents_come_by_impact(browser, demo):
    context, page, _ = _open(browser, demo, 1400)
    h1 = page.inner_text("h1")
    overview = page.eval_on_selector_all("#incidents tbody tr", "rows => rows.map(r => [r.cells[1].innerText, "
                                         "r.cells[2].innerText, Number(r.cells[4].innerText.replace(/,/g, ''))])")
    per_table = page.eval_on_selector_all(
        "section.table-findings", "ss => ss.map(s => [...s.querySelectorAll('article.incident')].map(a => a.id))")
    far = page.eval_on_selector_all("section.far tbody tr", "rows => rows.map(r => r.cells[0].textContent)")
    context.close()
    tables = demo.findings["tables"]
    keys = {(t["table"], str(c["key"])) for t in tables for c in t["clusters"]}
    assert all(len(c["rows"]) == 2 for t in tables for c in t["clusters"])
    rows = sum(t["rows_in_clusters"] for t in tables)
    incidents = [(t["table"], i["id"], i["rows"], i["clusters"], i["start"]) for t in tables for i in t["incidents"]]
    far_keys = sum(t["far_duplicates"] for t in tables)
    later = f"; {far_keys} key{'s' if far_keys > 1 else ''} written again later (far duplicates)" if far_keys else ""
    assert h1 == (f"{len(tables)} tables: {len(keys)} keys written twice ({rows} rows) in {len(incidents)} "
                  f"incidents{later}")
    by_impact = sorted(incidents, key=lambda i: (-i[2], -i[3], i[4]))
    assert [tuple(r) for r in overview] == [(t, i, n) for t, i, n, _, _ in by_impact]
    assert by_impact != sorted(incidents, key=lambda i: i[4])  # the demo's time order is not its impact order
    for n, (table, ids) in enumerate(zip(tables, per_table, strict=True), start=1):
        expected = sorted(table["incidents"], key=lambda i: (-i["rows"], -i["clusters"], i["start"]))
        assert ids == [f"t{n}-{i['id']}" for i in expected]
    listed = [", ".join(f"{k}={v}" for k, v in f["key"].items()) for t in tables for f in t["far_duplicate_keys"]]
    assert listed and far == listed


def test_print_expands_every_cluster(browser, demo, artifacts):
    context, page, errors = _open(browser, demo, 1400)
    shown = page.eval_on_selector_all("details.cluster tbody tr", "rows => rows.map(r => r.cells[0].textContent)")
    closed = page.eval_on_selector_all("details.cluster:not([open])", "ds => ds.length")
    # the beforeprint handler opens the closed clusters and afterprint closes them again
    opened = page.evaluate("dispatchEvent(new Event('beforeprint')); "
                           "document.querySelectorAll('details.cluster:not([open])').length")
    restored = page.evaluate("dispatchEvent(new Event('afterprint')); "
                             "document.querySelectorAll('details.cluster:not([open])').length")
    page.emulate_media(media="print")
    pdf = artifacts / "report.pdf"
    page.pdf(path=str(pdf), format="A4", print_background=True, prefer_css_page_size=True)
    context.close()
    assert errors == [] and closed > 100 and opened == 0 and restored == closed
    every_row = {", ".join(f"{k}={v}" for k, v in row["pk"].items())
                 for t in demo.findings["tables"] for c in t["clusters"] for row in c["rows"]}
    pks = [s.replace("✔ kept", "").strip() for s in shown]
    assert set(pks) <= every_row and len(pks) > 400
    reader = pypdf.PdfReader(str(pdf))
    printed = Counter(re.findall(r"\b\w+=[^\s,]+", "\n".join(p.extract_text() for p in reader.pages)))
    missing = Counter(part for pk in pks for part in pk.split(", ")) - printed
    assert missing == Counter()
    # without script (a mail client, a locked-down viewer) the stylesheet alone shows them in print
    context, page, _ = _open(browser, demo, 1400, javascript=False)
    count_visible = "rows => rows.filter(r => r.checkVisibility()).length"
    on_screen = page.eval_on_selector_all("details.cluster tbody tr", count_visible)
    page.emulate_media(media="print")
    in_print = page.eval_on_selector_all("details.cluster tbody tr", count_visible)
    context.close()
    assert on_screen < len(pks) and in_print == len(pks)


def _lines(page) -> list[tuple[float, str]]:
    """(height above the bottom edge, text) of each line of a PDF page, top first."""
    items: list[tuple[float, str]] = []

    def visit(text, cm, tm, font, size):
        if text.strip():
            items.append((round(cm[3] * tm[5] + cm[5], 0), text.strip()))

    page.extract_text(visitor_text=visit)
    lines: dict[float, list[str]] = {}
    for y, text in items:
        lines.setdefault(y, []).append(text)
    return sorted(((y, " ".join(t)) for y, t in lines.items()), reverse=True)


def test_printed_pages_are_filled_and_headings_stay_with_their_content(browser, demo, artifacts):
    context, page, _ = _open(browser, demo, 1400)
    headings = page.eval_on_selector_all("h2, h3, h4", "hs => hs.map(h => h.innerText.replace(/\\s+/g, ' ').trim())")
    page.emulate_media(media="print")
    pdf = artifacts / "report-pages.pdf"
    page.pdf(path=str(pdf), format="A4", prefer_css_page_size=True)
    context.close()
    reader = pypdf.PdfReader(str(pdf))
    width, height = float(reader.pages[0].mediabox.width), float(reader.pages[0].mediabox.height)
    assert abs(width - 842) < 2 and abs(height - 595) < 2  # A4 landscape, as the stylesheet asks
    first = _lines(reader.pages[0])
    assert first[-1][0] < 0.25 * height, first[-3:]  # page 1 is filled to its last quarter
    stranded = []  # a heading below the top of a page with fewer than two lines of its content after it
    for number, pdf_page in enumerate(reader.pages[:-1], start=1):
        lines = [re.sub(r"\s+", " ", text) for _, text in _lines(pdf_page)]
        heads = [k for k, line in enumerate(lines) if k > 0 and any(h.startswith(line) for h in headings)]
        if heads and len(lines) - 1 - heads[-1] < 2:
            stranded.append((number, lines[heads[-1]:]))
    assert len(reader.pages) > 10
    assert stranded == []


def test_printed_tables_fit_the_page(browser, demo):
    """Laid out for print at the width of an A4 landscape page less its margins, no table is wider than the page
    (Chromium would otherwise shrink the whole document to fit), and no word, number or timestamp is split."""
    context, page, _ = _open(browser, demo, round((297 - 24) / 25.4 * 96))
    page.emulate_media(media="print")
    found = page.evaluate("""() => {
      const main = document.querySelector("main").clientWidth;
      const tables = [...document.querySelectorAll("table")].filter(t => t.checkVisibility());
      return {main, tables: tables.length, wider: tables.filter(t => t.getBoundingClientRect().width > main + 0.5)
                                                     .map(t => t.rows[1].cells[0].textContent)};
    }""")
    words = page.evaluate(LAYOUT_PROBE)
    context.close()
    assert words["split"] == [] and words["wrapped"] == [] and words["narrow"] == [], words
    shown = sum(min(len(t["clusters"]), 100) for t in demo.findings["tables"])
    assert found["tables"] >= shown + 2 and found["wider"] == [], found


NAME = st.text(alphabet=string.ascii_letters + string.digits + "_-.=/ ", min_size=1, max_size=48).map(str.strip).filter(
    bool)


@st.composite
def chart_inputs(draw):
    """Gaps, table windows, days and an incident's writes, from tiny to wide ranges and long names."""
    gaps = draw(st.lists(st.floats(1e-7, 5e3), min_size=1, max_size=300))
    windows: dict[float, list[str]] = {}
    for seconds in draw(st.lists(st.sampled_from([0.001, 0.05, 0.5, 1.0, 2.0, 5.0, 60.0, 600.0]), min_size=1,
                                 max_size=4, unique=True)):
        windows[seconds] = draw(st.lists(NAME, min_size=1, max_size=5))
    first = draw(st.dates(date(2019, 1, 1), date(2030, 1, 1)))
    span = draw(st.sampled_from([0, 1, 3, 20, 90, 400, 1200]))
    days = {(first + timedelta(days=draw(st.integers(0, span)))).isoformat(): draw(st.integers(1, 100_000))
            for _ in range(draw(st.integers(1, 30)))}
    start = draw(st.integers(1_500_000_000_000_000, 1_900_000_000_000_000))
    scale = draw(st.sampled_from([1, 1_000, 1_000_000, 60_000_000, 86_400_000_000]))
    writers = draw(st.lists(NAME, min_size=1, max_size=11, unique=True))
    clusters = [[(start + draw(st.integers(0, 50)) * scale + k, draw(st.sampled_from(writers))) for k in range(2)]
                for _ in range(draw(st.integers(1, 400)))]
    return gaps, windows, days, clusters


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(inputs=chart_inputs())
def test_generated_charts_keep_every_label_inside_legible_and_apart(browser, inputs):
    gaps, windows, days, clusters = inputs
    timeline, _ = charts.timeline(clusters, "generated writes")
    body = f"{charts.gap_histogram(gaps, windows)}{charts.per_day(days)}{timeline}"
    css = (resource_dir("reports", "reports") / "report.css").read_text()
    html = f"<!doctype html><meta name=viewport content='width=device-width'><style>{css}</style><main>{body}</main>"
    for width in (390, 700, 1400):
        context = browser.new_context(viewport={"width": width, "height": 900})
        page = context.new_page()
        page.set_content(html)
        found = page.evaluate(CHART_PROBE)
        context.close()
        assert found["charts"] == 3
        assert found["cut"] == [] and found["small"] == [] and found["overlap"] == [] and found["onBar"] == [], found


def test_a_long_key_value_breaks_rather_than_push_the_page_sideways(browser, sqlite_url, tmp_path):
    """A stranger's finding: a 95-character customer reference, kept on one line as every key is, widened the
    cluster's summary (and its cells) beyond a 360 px phone, so the page scrolled sideways and the key was cut."""
    import sqlalchemy as sa
    from helpers import at, make_table

    long_ref = "Internationale-Handelsgesellschaft-fuer-Lieferkettenfinanzierung-und-Zahlungsverkehr-REF-000123"
    make_table(sqlite_url, "orders", [sa.Column("id", sa.Integer, primary_key=True),
                                      sa.Column("customer_ref", sa.String(120)), sa.Column("created_at", sa.DateTime)],
               [{"id": 1, "customer_ref": long_ref, "created_at": at(0.1)},
                {"id": 2, "customer_ref": long_ref, "created_at": at(0.3)},
                {"id": 3, "customer_ref": "R-1", "created_at": at(60)}, {"id": 4, "customer_ref": "R-1",
                                                                          "created_at": at(60.2)},
                {"id": 5, "customer_ref": long_ref, "created_at": at(900)}])  # and a far duplicate
    from dupfinder.config import ScanOptions, table_spec

    result = api.scan(ScanOptions(url=sqlite_url, tables=(table_spec(table="orders", keys=["customer_ref"],
                                                                     ts="created_at"),)))
    outputs = api.write_outputs(result, tmp_path / "o")
    for width in (360, 1400):
        context, page, errors = _open(browser, outputs, width)
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        wide = page.eval_on_selector_all("summary, td", "els => els.filter(e => e.offsetParent && "
                                         "e.scrollWidth > e.clientWidth + 1).map(e => e.textContent.slice(0, 40))")
        short = page.eval_on_selector_all("td[data-label=customer_ref]", "tds => tds.map(td => td.className)")
        context.close()
        assert wide == [] and errors == [], (width, wide, errors)
        assert "id" in short  # the short key R-1 still never wraps
