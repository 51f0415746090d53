"""The HTML report in a real headless Chromium (Playwright driving the system `chromium`; no browser download).

Checks what a reader sees: the rollouts are listed, clicking a span shows its attributes, the reward chart
and the per-version table are there, and the page asks for no network resource at all. A screenshot of each
report is kept under `test-artifacts/` (git-ignored) for a person to look at.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentlightning._utils import run_sync
from agentlightning.store.sqlite import SqliteLightningStore
from agentlightning.testing import ScriptedOpenAIServer
from agentlightning.types import PromptTemplate, Span

from ._helpers import CLI, run_cli, run_rollout_id, write_agent

pytestmark = pytest.mark.slow

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-sync",
    "--no-first-run",
    "--metrics-recording-only",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("the report tests need the system chromium: apt-get install chromium (.ci/run does it)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=LAUNCH_ARGS)
        yield browser
        browser.close()


def _open(browser: Any, report: Path, screenshot: str) -> tuple[Any, list[str]]:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    requests: list[str] = []
    errors: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(report.as_uri())
    page.wait_for_selector("#rollouts tbody tr")
    assert errors == []
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / screenshot), full_page=True)
    return page, requests


def test_the_report_of_a_run_lists_rollouts_and_shows_span_attributes_offline(
    tmp_path: Path, server: ScriptedOpenAIServer, browser: Any
) -> None:
    out = run_cli([str(write_agent(tmp_path))], tmp_path, base_url=server.base_url)
    rollout_id = run_rollout_id(out.stderr)
    made = run_cli(["report", "-o", "report.html"], tmp_path, program=CLI)
    assert made.returncode == 0, made.stderr
    page, requests = _open(browser, tmp_path / "report.html", "report-run.png")
    assert page.locator("#rollouts tbody tr").all_inner_texts()[0].split()[0] == rollout_id
    assert "LLM calls" in page.inner_text("#totals")
    page.locator(".span-row", has_text="chat tiny").first.click()
    details = page.inner_text("#details")
    assert "gen_ai.request.model" in details and "tiny" in details and "gen_ai.usage.input_tokens" in details
    page.locator(".span-row", has_text="agentlightning.annotation").first.click()
    assert "agentlightning.reward.0.value" in page.inner_text("#details")
    page.screenshot(path=str(ARTIFACTS / "report-run-span-clicked.png"), full_page=True)
    assert requests == [(tmp_path / "report.html").as_uri()]  # the file itself, nothing else


def _big_store(path: Path, n_spans: int) -> list[str]:
    """Two prompt versions, three rollouts each; one rollout holds `n_spans` spans."""
    store = SqliteLightningStore(path)
    ids = []
    try:
        for version, (template, reward) in enumerate([("Answer: {q}", 0.25), ("Think, then answer: {q}", 0.9)]):
            resources = run_sync(store.add_resources({"prompt": PromptTemplate(template=template)}))
            for k in range(3):
                rollout = run_sync(store.start_rollout(input={"q": k}, resources_id=resources.resources_id))
                ids.append(rollout.rollout_id)
                count = n_spans if (version, k) == (1, 2) else 3
                spans = [
                    Span(
                        rollout_id=rollout.rollout_id,
                        attempt_id=rollout.attempt.attempt_id,
                        sequence_id=0,
                        trace_id="1" * 32,
                        span_id=f"{i + 1:016x}",
                        parent_id=None if i == 0 else f"{(i - 1) // 10 + 1:016x}",
                        name="agentlightning.annotation" if i == count - 1 else f"chat model-{i % 7}",
                        attributes={
                            "agentlightning.reward.0.name": "primary",
                            "agentlightning.reward.0.value": reward + k * 0.01,
                        }
                        if i == count - 1
                        else {
                            "gen_ai.operation.name": "chat",
                            "gen_ai.usage.input_tokens": 3,
                            "gen_ai.usage.output_tokens": 2,
                            "step": i,
                        },
                        start_time=1000.0 + i * 0.01,
                        end_time=1000.0 + i * 0.01 + 0.005,
                    )
                    for i in range(count)
                ]
                for start in range(0, len(spans), 2000):
                    run_sync(store.add_many_spans(spans[start : start + 2000]))
                run_sync(store.update_attempt(rollout.rollout_id, rollout.attempt.attempt_id, status="succeeded"))
    finally:
        store.close()
    return ids


def test_a_report_of_10000_spans_stays_usable_and_shows_which_template_won(tmp_path: Path, browser: Any) -> None:
    ids = _big_store(tmp_path / "store.db", 10_000)
    made = run_cli(["report", "--store", "store.db", "-o", "big.html"], tmp_path, program=CLI)
    assert made.returncode == 0, made.stderr
    page, requests = _open(browser, tmp_path / "big.html", "report-10000-spans.png")
    assert page.locator("#rollouts tbody tr").count() == 6
    assert "10000 spans" in page.inner_text("#timeline-title")  # the newest rollout, the big one
    assert page.locator(".span-row").count() < 200  # only the rows in view are drawn
    page.locator("#waterfall").evaluate("el => { el.scrollTop = 9000 * 22; el.dispatchEvent(new Event('scroll')); }")
    # Row 9005 exists only once the scrolled range is drawn (the rows of the first screen are still there until then,
    # and clicking one of those would scroll the pane back and race the redraw).
    row = page.locator('.span-row[data-index="9005"]')
    row.wait_for()
    assert "chat model-" in row.inner_text()
    row.click()
    assert "step" in page.inner_text("#details")
    best = page.locator("#versions tbody tr.best")
    assert best.count() == 1 and "Think, then answer: {q}" in best.inner_text()
    assert page.locator("#reward-chart rect").count() == 6
    page.locator("#rollouts tbody tr", has_text=ids[0]).click()
    assert ids[0] in page.inner_text("#timeline-title")
    assert requests == [(tmp_path / "big.html").as_uri()]
