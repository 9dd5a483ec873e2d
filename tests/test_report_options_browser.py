"""An option the report asks for ("a host column (--writer host=COLUMN) would settle it") is never broken after
its dashes (a stranger's finding: at 1280 px the incident summary ended a line with "(--" and began the next with
"writer host=COLUMN)"). Measured in the system Chromium at every width from 360 to 1400 px."""

from __future__ import annotations

import shutil

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from helpers import at, make_table
from playwright.sync_api import sync_playwright

from dupfinder.cli import main

pytestmark = pytest.mark.browser

# for every "--writer" in the page's text: the line tops of the token around it, from its "(" to its end
SPLIT_OPTIONS = r"""
() => {
  const split = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  let seen = 0;
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const text = node.textContent;
    for (let i = text.indexOf("--writer"); i >= 0; i = text.indexOf("--writer", i + 1)) {
      const el = node.parentElement;
      if (!el || el.getClientRects().length === 0 || el.closest("details:not([open]), pre, code")) continue;
      seen += 1;
      const start = text[i - 1] === "(" ? i - 1 : i;
      const range = document.createRange();
      range.setStart(node, start);
      range.setEnd(node, i + "--writer".length);
      const tops = new Set([...range.getClientRects()].filter(r => r.width > 0.5).map(r => Math.round(r.top)));
      if (tops.size > 1) split.push(text.slice(Math.max(0, i - 30), i + 30));
    }
  }
  return {seen, split};
}
"""


def test_an_option_in_a_summary_is_never_split_after_its_dashes(tmp_path):
    url = f"sqlite:///{tmp_path / 'export.db'}"
    rows = [{"id": 60 * run + n, "invoice_no": n, "amount": 7 * n, "exported_at": at(n * 0.02 + run * 1.5)}
            for run in (0, 1) for n in range(60)]
    make_table(url, "invoice_export", [sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
                                       sa.Column("invoice_no", sa.Integer), sa.Column("amount", sa.Integer),
                                       sa.Column("exported_at", sa.DateTime)], rows)
    said = CliRunner().invoke(main, ["scan", url, "--table", "invoice_export", "--key", "invoice_no",
                                     "--ts", "exported_at", "--out", str(tmp_path / "out")])
    assert said.exit_code == 1 and "(--writer host=COLUMN)" in said.output, said.output
    executable = shutil.which("chromium") or "/usr/bin/chromium"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=["--headless", "--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto((tmp_path / "out" / "report.html").as_uri())
        broken = {}
        for width in range(360, 1401, 3):
            page.set_viewport_size({"width": width, "height": 900})
            found = page.evaluate(SPLIT_OPTIONS)
            assert found["seen"] >= 2, found  # the verdict table's summary and the incident's
            if found["split"]:
                broken[width] = found["split"]
        browser.close()
    assert not broken, broken
