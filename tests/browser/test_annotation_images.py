"""Image pairs on Argilla's annotation page, in a real browser: after ``prefkit label push`` an annotator sees
each pair's images (the pushed files themselves, at their own size) above the conversation, a pair without images
shows none, and what the annotator submits comes back from ``prefkit label pull`` with the image paths."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

from PIL import Image
from selenium.webdriver.common.by import By

from browser.test_annotation_page import OPTIONS, Page, open_dataset, sign_in
from conftest import load_output
from helpers.browser import console_errors, screenshot, text_of, wait_for
from helpers.images import make_image

# prompt -> its images: (file, width, height, colour); a BMP is sent as a PNG of the same pixels
IMAGES = {"<image>What colour is it?": [("red.png", 300, 200, (200, 30, 30))],
          "<image><image>Which is taller?": [("tall.jpg", 120, 400, (30, 200, 30)), ("wide.bmp", 500, 100, (30, 30, 200))],
          "What is 2 + 2?": []}

# each shown image: natural size, where it is, whether it is the element seen at its centre, and its src
_IMAGES = """
const chat = document.querySelector('.record__content .chat');
return [...document.querySelectorAll('.record__content .fields img')].map(img => {
  img.scrollIntoView({block: 'center'});
  const r = img.getBoundingClientRect();
  return {natural: [img.naturalWidth, img.naturalHeight], shown: [r.width, r.height], bottom: r.bottom,
          seen: document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2) === img,
          chat: chat.getBoundingClientRect().top, src: img.src};
});
"""


def write_pairs(folder: Path) -> Path:
    rows = []
    for prompt, images in IMAGES.items():
        for name, width, height, colour in images:
            make_image(folder / "img" / name, (width, height), color=colour)
        paths = {"images": [f"img/{name}" for name, *_ in images]} if images else {}
        rows.append({"conversations": [{"from": "human", "value": prompt}], "chosen": {"from": "gpt", "value": "good"},
                     "rejected": {"from": "gpt", "value": "bad"}, **paths})
    (folder / "pairs.json").write_text(json.dumps(rows), encoding="utf-8")
    return folder / "pairs.json"


def decoded(src: str) -> bytes:
    head, _, data = src.partition(",")
    assert head.startswith("data:image/") and head.endswith(";base64"), head[:60]
    return base64.b64decode(data)


def check_images(driver: Any, prompt: str, folder: Path) -> None:
    """The page shows exactly the pair's images, in order, each whole and visible, above the conversation."""
    shown = driver.execute_script(_IMAGES)
    expected = IMAGES[prompt]
    assert len(shown) == len(expected), f"{prompt!r}: {len(shown)} images shown, {len(expected)} pushed"
    for img, (name, width, height, colour) in zip(shown, expected):
        assert img["natural"] == [width, height], f"{name} shown at natural size {img['natural']}"
        assert img["shown"][0] > 50 and img["shown"][1] > 50 and img["seen"], f"{name} is not visible: {img}"
        assert img["bottom"] <= img["chat"], f"{name} is not above the conversation"
        data = decoded(img["src"])
        if name.endswith(".bmp"):
            with Image.open(io.BytesIO(data)) as got:
                assert got.convert("RGB").getpixel((width // 2, height // 2)) == colour
        else:
            assert data == (folder / "img" / name).read_bytes(), f"{name}: the page shows other bytes"


def test_an_annotator_sees_the_images_above_the_conversation(argilla, argilla_env, cli, browser, tmp_path):
    src = write_pairs(tmp_path / "in")
    result = cli("label", "push", src, "--dataset", "images-in-browser", "--workspace", "team")
    assert result.exit_code == 0, result.output
    from server import USER_PASSWORD  # tests/argilla_server/server.py: every test user's password

    sign_in(browser, argilla["url"], "ann1", USER_PASSWORD)
    open_dataset(browser, "images-in-browser")
    page, done = Page(browser), []

    def next_record(d: Any) -> str | None:
        body = d.find_element(By.TAG_NAME, "body").text
        if "no pending records" in body or "The task is completed" in body:
            return "(none)"
        prompt = page.last_prompt()
        ready = prompt in IMAGES and prompt not in done and len(d.find_elements(
            By.CSS_SELECTOR, ".record__content .fields img")) == len(IMAGES[prompt])
        return prompt if ready else None

    while (prompt := wait_for(browser, next_record, "the next record")) != "(none)":
        wait_for(browser, lambda d: d.execute_script(
            "return [...document.querySelectorAll('.record__content .fields img')].every(i => i.complete)"), "images")
        check_images(browser, prompt, tmp_path / "in")
        assert text_of(page.titles()[-3]) == "Conversation"
        screenshot(browser, tmp_path / "screenshots" / f"{len(done)}.png")
        side = "a" if "good" in text_of(page.response("a")) else "b"
        option = page.options()[OPTIONS.index(f"{side.upper()} is better")]
        if not option.find_element(By.TAG_NAME, "input").is_selected():  # the input's label comes as a suggestion
            option.click()
        wait_for(browser, lambda d, o=option: o.find_element(By.TAG_NAME, "input").is_selected(), "the chosen option")
        submit = browser.find_element(By.CSS_SELECTOR, "button.button--submit")
        wait_for(browser, lambda d, b=submit: b.is_enabled(), "Submit to be enabled")
        submit.click()
        done.append(prompt)
    assert sorted(done) == sorted(IMAGES) and console_errors(browser) == []

    result = cli("label", "pull", "--dataset", "images-in-browser", "--workspace", "team", "-o", tmp_path / "in" / "labeled.json")
    assert result.exit_code == 0, result.output
    pulled = {r["conversations"][-1]["value"]: r.get("images", []) for r in load_output(tmp_path / "in" / "labeled.json")}
    assert pulled == {prompt: [f"img/{n}" for n, *_ in images] for prompt, images in IMAGES.items()}
