"""One labeling round in Label Studio's own web UI: ``prefkit label push`` two pairs to the Label Studio that
prefkit's ``label serve`` code started (tests/helpers/labelers.py), log in in headless Chromium with the generated
credentials read from ``credentials.json``, open the project's labeling stream (``/projects/{id}/data?labeling=1``),
read each pair, choose the better answer and submit; ``prefkit label pull`` then gives the pairs back with the
chosen side right, whichever side the seeded A/B order showed it on.

The page is read the way an annotator reads it: the headers, the conversation (system prompt included), both
responses as written (a ``<think>`` block shown as text), the question and its four choices, each shown and
readable. A change to the labeling config (prefkit/label/studio_tasks.py) that changes what annotators see fails
here. Screenshots go to the test's folder; with PREFKIT_UPDATE_DOCS=1 the first one also replaces
docs/label-studio-page.png (docs/commands/label.md's picture of the page).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from typing import Any

import httpx
from selenium.webdriver.common.by import By

from conftest import ROOT, load_output, write_jsonl
from helpers import labelers
from helpers.browser import console_errors, readable, screenshot, text_of, wait_for

label_studio = labelers.label_studio  # the fixture: a real Label Studio for the session

# What annotators must see, written out here (not imported from prefkit): a change to the page shows here.
HEADERS = ["Conversation", "Response A", "Response B", "Which response is better?"]
OPTIONS = ["A is better", "B is better", "Both equally good", "Both bad"]
# prompt -> (system, good answer, bad answer)
PAIRS = {
    "What is 17 × 3?": ("You are a concise maths tutor.", "17 × 3 = 51.\nCheck: 10 × 3 + 7 × 3 = 30 + 21 = 51.",
                        "<think>17 times 3 is about 50</think>\n17 × 3 = 54."),
    "Which header declares printf in C?": ("", "Put #include <stdio.h> at the top: it declares printf.",
                                           "It is declared in <math.h> & <string.h>."),
}
DOCS_IMAGE = ROOT / "docs" / "label-studio-page.png"
# Label Studio's own requests that its server answers 404, not the page's fault: the open-source build asks for tips it
# does not serve, and after the last task is submitted the data manager asks for a next task there is none of.
KNOWN_CONSOLE = ("/heidi-tips", "/api/dm/actions?id=next_task")


def rows() -> list[dict[str, Any]]:
    return [{"prompt": ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}],
             "response_a": good, "response_b": bad} for prompt, (system, good, bad) in PAIRS.items()]


def xpath_str(text: str) -> str:
    """``text`` as an XPath string literal (no quote of both kinds in the texts here)."""
    return f'"{text}"' if '"' not in text else f"'{text}'"


def log_in(driver: Any, url: str, credentials_file: str) -> None:
    """Log in as prefkit label serve's user, with what its credentials file holds."""
    with open(credentials_file, encoding="utf-8") as f:
        creds = json.load(f)
    driver.get(url + "/user/login/")
    wait_for(driver, lambda d: d.find_element(By.NAME, "email"), "the login form").send_keys(creds["username"])
    driver.find_element(By.NAME, "password").send_keys(creds["password"])
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_for(driver, lambda d: "/user/login" not in d.current_url, "the login to go through")


def shown_pair(driver: Any) -> dict[str, str] | None:
    """The conversation and both responses as the page shows them, split at the headers (None: not yet shown)."""
    body = driver.find_element(By.TAG_NAME, "body").get_attribute("innerText")
    at = [body.find(h) for h in HEADERS]
    if min(at) < 0 or at != sorted(at):
        return None
    parts = [body[at[i] + len(HEADERS[i]):at[i + 1]] for i in range(3)]
    return {"conversation": parts[0], "a": parts[1], "b": parts[2]}


def check_page(driver: Any, shown: dict[str, str]) -> tuple[str, str]:
    """(the prompt shown, the side showing its good answer); everything an annotator needs is shown and readable."""
    prompt = next(p for p in PAIRS if p in shown["conversation"])
    system, good, bad = PAIRS[prompt]
    if system:
        assert system in shown["conversation"] and "system" in shown["conversation"]
    flat = {side: " ".join(text.split()) for side, text in shown.items() if side in "ab"}
    good_side = "a" if " ".join(good.split()) in flat["a"] else "b"
    bad_side = "b" if good_side == "a" else "a"
    assert " ".join(good.split()) in flat[good_side] and " ".join(bad.split()) in flat[bad_side], flat
    for header in HEADERS:
        element = driver.find_element(By.XPATH, f"//*[normalize-space(text())={xpath_str(header)}]")
        readable(driver, element, f"header {header!r}", min_contrast=3)
    for text in (good, bad):  # each response, as written: tags and entities are text
        line = text.split("\n")[0]
        found = [e for e in driver.find_elements(By.XPATH, f"//*[contains(., {xpath_str(line)})]"
                                                           f"[not(*[contains(., {xpath_str(line)})])]")
                 if e.is_displayed()]  # the innermost element that shows the line
        assert found, f"{line!r} is not shown"
        readable(driver, found[0], f"the response {line[:30]!r}")
    labels = driver.find_elements(By.CSS_SELECTOR, "label.lsf-choice__checkbox")
    assert [text_of(label).split("[")[0] for label in labels] == OPTIONS
    for label in labels:
        readable(driver, label, f"choice {text_of(label)!r}")
    return prompt, good_side


def test_annotator_labels_in_label_studio_and_pull_gets_the_chosen_side(label_studio, cli, browser, tmp_path,
                                                                        monkeypatch):
    for name in ("ARGILLA_API_URL", "ARGILLA_API_KEY", "PREFKIT_LABEL_BACKEND"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LABEL_STUDIO_URL", label_studio["url"])
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", label_studio["key"])
    src = write_jsonl(tmp_path / "todo.jsonl", rows())
    result = cli("label", "push", src, "--dataset", "in-browser", "--backend", "label-studio")
    assert result.exit_code == 0, result.output
    url = label_studio["url"]
    headers = {"Authorization": f"Token {label_studio['key']}", "Connection": "close"}
    project = next(p for p in httpx.get(f"{url}/api/projects", params={"title": "in-browser"}, headers=headers)
                   .json()["results"] if p["title"] == "in-browser")

    log_in(browser, url, label_studio["studio"].credentials_file)
    browser.get(f"{url}/projects/{project['id']}/data?labeling=1")
    shots, done = tmp_path / "screenshots", {}
    while len(done) < len(PAIRS):
        shown = wait_for(browser, lambda d: (lambda s: s if s and not any(p in s["conversation"] for p in done) else None)
                         (shown_pair(d)), "the next pair", timeout=60)
        prompt, good_side = check_page(browser, shown)
        choice = f"//label[contains(@class, 'lsf-choice__checkbox')][.//input[@name={xpath_str(OPTIONS['ab'.index(good_side)])}]]"
        browser.find_element(By.XPATH, choice).click()
        # the page renders the choice again (the clicked element goes stale): find it afresh
        wait_for(browser, lambda d, c=choice: d.find_element(By.XPATH, c + "//input").is_selected(), "the chosen answer")
        time.sleep(0.3)  # the checkbox's own transition
        screenshot(browser, shots / f"{len(done)}-{good_side}.png")
        browser.find_element(By.CSS_SELECTOR, "button[aria-label='Submit current annotation']").click()
        done[prompt] = good_side
        # the submit is saved: the task has its annotation on the server
        wait_for(browser, lambda d: sum(len(t["annotations"]) for t in httpx.get(
            f"{url}/api/projects/{project['id']}/export", params={"exportType": "JSON"}, headers=headers).json())
            == len(done), "the annotation on the server")
    assert [e for e in console_errors(browser) if not any(k in e for k in KNOWN_CONSOLE)] == []
    if os.environ.get("PREFKIT_UPDATE_DOCS") == "1":
        shutil.copyfile(next(shots.glob("0-*.png")), DOCS_IMAGE)

    result = cli("label", "pull", "--dataset", "in-browser", "-o", tmp_path / "pairs.json",
                 "--report-json", tmp_path / "pull.json")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "pull.json").read_text())
    assert report["pairs"] == len(PAIRS) and report["rejected_by_reason"] == {}
    assert report["chosen_shown_as_a"] == list(done.values()).count("a")
    out = load_output(tmp_path / "pairs.json")
    # the chosen side is the good answer, byte for byte, whichever side it was shown on
    assert {(r["conversations"][-1]["value"], r["chosen"]["value"], r["rejected"]["value"]) for r in out} == \
        {(prompt, good, bad) for prompt, (_, good, bad) in PAIRS.items()}
