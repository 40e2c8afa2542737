"""One labeling round in a real browser: ``prefkit label push`` a few pairs with guidelines, two annotators sign
in to Argilla's own web UI (headless Chromium), read each pair, choose and submit; ``prefkit label pull`` then
returns their votes as pairs.

The page is read the way an annotator reads it: the field titles, the conversation (system prompt included),
both responses in full (tags such as ``<think>`` shown as text, markdown rendered), the guidelines and the
options, each shown and readable. A change to the dataset's layout (prefkit/label/layout.py) that changes what
annotators see fails here. Screenshots go to the test's folder; with PREFKIT_UPDATE_DOCS=1 the first one also
replaces docs/annotation-page.png (the README's picture of the page).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from typing import Any

from selenium.webdriver.common.by import By

from conftest import ROOT, load_output, write_jsonl
from helpers.browser import WINDOW, console_errors, readable, screenshot, text_of, wait_for

# What annotators must see. Written out here, not imported from prefkit: renaming a field or an option in
# prefkit/label/layout.py changes the page, and this test is where that shows.
TITLES = ["Conversation", "Response A", "Response B"]
QUESTION = "Which response is better?"
OPTIONS = ["A is better", "B is better", "Both equally good", "Both bad"]
GUIDELINES = "Prefer the **correct** answer.\n\n- Check the arithmetic.\n- A `<think>` block is part of the answer."
PLANETS = ["Mercury", "Venus", "Earth", "Mars", "Jupiter", "Saturn", "Uranus", "Neptune"]
LONG = "\n".join(f"{i}. **{p}**: " + f"{p} is planet number {i} from the Sun. " * 12 for i, p in enumerate(PLANETS, 1)) + \
    "\n\nThat is all eight planets, in order."

# prompt (last user turn) -> (system, good answer, bad answer, texts the page must show for good and bad)
PAIRS = {
    "What is 17 × 3?": ("You are a concise maths tutor.",
                        "17 × 3 = **51**.\n\nCheck: 10 × 3 + 7 × 3 = 30 + 21 = 51.",
                        "<think>17 times 3 is about 50</think>\n17 × 3 = **54**.",
                        ["17 × 3 = 51.", "Check: 10 × 3 + 7 × 3 = 30 + 21 = 51."],
                        ["<think>17 times 3 is about 50</think>", "17 × 3 = 54."]),
    "Which header declares printf in C?": ("", "Put #include <stdio.h> at the top: it declares `printf`.",
                                           "It is declared in <math.h> & <string.h>.",
                                           ["Put #include <stdio.h> at the top: it declares printf."],
                                           ["It is declared in <math.h> & <string.h>."]),
    "Name the planets in order from the Sun.": ("", LONG, "Mercury, Venus, Mars, Earth, Jupiter, Saturn, Neptune, Uranus.",
                                                ["Mercury: Mercury is planet number 1", "Neptune: Neptune is planet number 8",
                                                 "That is all eight planets, in order."],
                                                ["Mercury, Venus, Mars, Earth, Jupiter, Saturn, Neptune, Uranus."]),
}
DOCS_IMAGE = ROOT / "docs" / "annotation-page.png"


def rows() -> list[dict[str, Any]]:
    return [{"prompt": ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}],
             "response_a": good, "response_b": bad} for prompt, (system, good, bad, _, _) in PAIRS.items()]


def sign_in(driver: Any, url: str, user: str, password: str) -> None:
    if driver.current_url.startswith(url):  # signed in as someone else: forget that session first
        driver.execute_script("window.localStorage.clear(); window.sessionStorage.clear();")
        driver.delete_all_cookies()
    driver.get(url + "/sign-in")
    inputs = wait_for(driver, lambda d: (lambda i: i if len(i) >= 2 else None)(d.find_elements(By.CSS_SELECTOR, "input")),
                      "the sign-in form")
    inputs[0].send_keys(user)
    inputs[1].send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()


def open_dataset(driver: Any, name: str) -> None:
    """From the annotator's home page, the dataset's annotation page (found by its name, as a person would)."""
    def link(d: Any) -> str | None:
        for a in d.find_elements(By.CSS_SELECTOR, "a[href*='annotation-mode']"):
            if name in a.text.split("\n"):
                return a.get_attribute("href")
        return None

    driver.get(wait_for(driver, link, f"dataset {name!r} on the home page"))


class Page:
    """The annotation page of one record, read from what is on the screen."""

    def __init__(self, driver: Any) -> None:
        self.d = driver

    def fields(self) -> list[Any]:
        return self.d.find_elements(By.CSS_SELECTOR, ".record__content .fields .chat, "
                                                     ".record__content .fields .text_field_component")

    def titles(self) -> list[Any]:
        return self.d.find_elements(By.CSS_SELECTOR, ".record__content .chat__title, "
                                                     ".record__content .text_field_component__title-content")

    def bubbles(self) -> list[Any]:
        return self.d.find_elements(By.CSS_SELECTOR, ".record__content .chat__bubble")

    def roles(self) -> list[str]:
        return [text_of(e) for e in self.d.find_elements(By.CSS_SELECTOR, ".record__content .chat__role")]

    def response(self, side: str) -> Any:
        field = self.fields()[TITLES.index(f"Response {side.upper()}")]
        return field.find_element(By.CSS_SELECTOR, ".content-area")

    def options(self) -> list[Any]:
        return self.d.find_elements(By.CSS_SELECTOR, "[aria-label='Question: preference'] [role=button]")

    def question_title(self) -> Any:
        return self.d.find_element(By.CSS_SELECTOR, "[aria-label='Question: preference'] .title-area")

    def last_prompt(self) -> str:
        bubbles = self.bubbles()
        return text_of(bubbles[-1]) if bubbles else ""

    def open_guidelines(self) -> Any:
        """Expand the guidelines panel (collapsed at the bottom of the page) and return its text."""
        if not self.d.find_elements(By.XPATH, "//*[contains(text(), 'Check the arithmetic')]"):
            header = wait_for(self.d, lambda d: [b for b in d.find_elements(By.CSS_SELECTOR, "button.panel__header")
                                                 if b.is_displayed() and text_of(b).lower() == "guidelines"][0],
                              "the guidelines panel")
            header.click()
        return wait_for(self.d, lambda d: [e for e in d.find_elements(By.XPATH, "//li[contains(., 'Check the arithmetic')]")
                                           if e.is_displayed()][0], "the guidelines")


def check_page(driver: Any, page: Page, prompt: str) -> str:
    """Everything an annotator needs is on the page and readable; returns the side showing the good answer."""
    system, good, bad, good_text, bad_text = PAIRS[prompt]
    assert [text_of(t) for t in page.titles()] == TITLES
    for title in page.titles():
        readable(driver, title, f"field title {text_of(title)!r}", min_contrast=3)
    bubbles = page.bubbles()
    assert [text_of(b) for b in bubbles] == ([system] if system else []) + [prompt]
    assert page.roles() == (["system", "user"] if system else ["user"])
    for bubble in bubbles:
        readable(driver, bubble, f"conversation message {text_of(bubble)[:30]!r}")
    shown = {side: text_of(page.response(side)) for side in "ab"}
    good_side = "a" if all(t in shown["a"] for t in good_text) else "b"
    for side, expected in ((good_side, good_text), ("b" if good_side == "a" else "a", bad_text)):
        for text in expected:
            assert text in shown[side], f"Response {side.upper()} should show {text!r}; it shows {shown[side][:300]!r}"
        assert "**" not in shown[side] and "`" not in shown[side], "markdown shown as source"
        readable(driver, page.response(side), f"Response {side.upper()}")
    if "**51**" in good + bad:  # markdown is rendered: bold is bold
        strong = [text_of(e) for side in "ab" for e in page.response(side).find_elements(By.TAG_NAME, "strong")]
        assert {"51", "54"} <= set(strong)
    if prompt.startswith("Name the planets"):  # a long answer is there to its end, reachable by scrolling
        assert len(page.response(good_side).find_elements(By.CSS_SELECTOR, "ol > li")) == len(PLANETS)
        end = page.response(good_side).find_elements(By.XPATH, ".//*[contains(text(), 'That is all eight planets')]")
        assert end, "the end of the long answer is missing"
        readable(driver, end[0], "the last line of a long answer")
    title = page.question_title()
    assert text_of(title).rstrip(" *") == QUESTION
    readable(driver, title, "the question")
    options = page.options()
    assert [text_of(o).lstrip("0123456789").strip() for o in options] == OPTIONS
    for option in options:
        readable(driver, option, f"option {text_of(option)!r}")
    return good_side


def annotate_all(driver: Any, page: Page, shots: Any, first: bool) -> int:
    """Read, choose and submit every pending record; returns how many were submitted."""
    done: list[str] = []

    def next_record(d: Any) -> str | None:
        body = d.find_element(By.TAG_NAME, "body").text
        if "no pending records" in body or "The task is completed" in body:
            return "(none)"
        prompt = page.last_prompt()
        return prompt if prompt and prompt not in done else None

    while True:
        prompt = wait_for(driver, next_record, "the next record")
        if prompt == "(none)":
            return len(done)
        good_side = check_page(driver, page, prompt)
        option = page.options()[OPTIONS.index(f"{good_side.upper()} is better")]
        option.click()
        wait_for(driver, lambda d, o=option: o.find_element(By.TAG_NAME, "input").is_selected(), "the chosen option")
        page.question_title().click()  # out of the option: its hover tooltip would cover the screenshot
        screenshot(driver, shots / f"{len(done)}-{good_side}.png")
        if first and not done:
            # the whole first record in one picture (README), then the guidelines, collapsed until opened
            height = driver.execute_script("return window.innerHeight")
            driver.set_window_size(WINDOW[0], 1000)
            wait_for(driver, lambda d, h=height: d.execute_script("return window.innerHeight") > h, "a taller window")
            time.sleep(0.5)  # the page lays itself out again
            driver.execute_script("arguments[0].scrollIntoView({block: 'start'})", page.titles()[0])
            screenshot(driver, shots / "page.png")
            driver.set_window_size(*WINDOW)
            readable(driver, page.open_guidelines(), "the guidelines")
            assert driver.find_elements(By.XPATH, "//strong[text()='correct']"), "guidelines markdown not rendered"
            screenshot(driver, shots / "guidelines.png")
        submit = driver.find_element(By.CSS_SELECTOR, "button.button--submit")
        wait_for(driver, lambda d, b=submit: b.is_enabled(), "Submit to be enabled")
        submit.click()
        done.append(prompt)


def test_two_annotators_label_in_the_browser_and_pull_gets_their_votes(argilla, argilla_env, cli, browser, tmp_path):
    src = write_jsonl(tmp_path / "todo.jsonl", rows())
    (tmp_path / "guide.md").write_text(GUIDELINES, encoding="utf-8")
    result = cli("label", "push", src, "--dataset", "in-browser", "--workspace", "team", "--min-submitted", "2",
                 "--guidelines", tmp_path / "guide.md")
    assert result.exit_code == 0, result.output
    url = argilla["url"]
    from server import USER_PASSWORD  # tests/argilla_server/server.py: every test user's password

    page = Page(browser)
    for n, annotator in enumerate(("ann1", "ann2")):
        sign_in(browser, url, annotator, USER_PASSWORD)
        open_dataset(browser, "in-browser")
        shots = tmp_path / "screenshots" / annotator
        assert annotate_all(browser, page, shots, first=n == 0) == len(PAIRS)
        assert console_errors(browser) == []
    if os.environ.get("PREFKIT_UPDATE_DOCS") == "1":
        DOCS_IMAGE.parent.mkdir(exist_ok=True)
        shutil.copyfile(tmp_path / "screenshots" / "ann1" / "page.png", DOCS_IMAGE)

    result = cli("label", "pull", "--dataset", "in-browser", "--workspace", "team", "-o", tmp_path / "pairs.json",
                 "--min-annotations", "2", "--report-json", tmp_path / "pull.json")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "pull.json").read_text())
    assert report["pairs"] == len(PAIRS) and report["rejected_by_reason"] == {}
    assert report["annotators"] == {"ann1": {"a": report["chosen_shown_as_a"], "b": report["chosen_shown_as_b"]},
                                    "ann2": {"a": report["chosen_shown_as_a"], "b": report["chosen_shown_as_b"]}}
    out = load_output(tmp_path / "pairs.json")
    # The texts come back exactly as written: tags, entities and markdown included.
    assert {(r["conversations"][-1]["value"], r["chosen"]["value"], r["rejected"]["value"]) for r in out} == \
        {(prompt, good, bad) for prompt, (_, good, bad, _, _) in PAIRS.items()}
    assert sorted(r["conversations"][0]["value"] for r in out if r["conversations"][0]["from"] == "system") == \
        ["You are a concise maths tutor."]
