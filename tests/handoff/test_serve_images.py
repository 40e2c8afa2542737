"""Image prompts for served models: prefkit eval's requests carry a row's images as ``image_url`` parts with
``data:`` URLs, and ``prefkit serve``'s server (LLaMA-Factory's API) answers them with the tiny vision-language model."""

import base64

import pytest
import yaml
from image_pairs import image_pairs

from helpers.images import make_image, truncated_copy
from prefkit.errors import DataError
from prefkit.handoff.evaluate import load_prompts, prompts_and_requests
from prefkit.serving.image_parts import api_data_url
from prefkit.handoff.infer import write_infer_configs
from prefkit.serving.serve import serving
from prefkit.handoff.train_config import build_config, image_settings


def test_eval_requests_carry_each_rows_images_in_place_of_its_placeholders(tmp_path):
    data = image_pairs(tmp_path)
    loaded = prompts_and_requests("pairs", str(data), None)
    assert [prompt for prompt, _ in loaded] == load_prompts("pairs", str(data), None)
    (_, prompt), (_, request) = loaded[-1]  # two images in one turn
    assert prompt == [{"role": "user", "content": "<image>Which of these <image> is brighter?"}]
    parts = request[0]["content"]
    assert [p["type"] for p in parts] == ["image_url", "text", "image_url", "text"]
    urls = [p["image_url"]["url"] for p in parts if p["type"] == "image_url"]
    assert urls[0].startswith("data:image/png;base64,") and urls[1].startswith("data:image/jpeg;base64,")
    assert base64.b64decode(urls[1].split(",", 1)[1]) == (data / "images" / "tall.jpg").read_bytes()
    webp = make_image(tmp_path / "x.webp", (30, 20))
    assert api_data_url(webp).startswith("data:image/png;base64,")  # LLaMA-Factory's API takes no WebP


@pytest.mark.parametrize("damage, message", [
    ("missing", r"pairs.json: record 1: images\[0\]: image 'images/green.png' not found"),
    ("truncated", r"pairs.json: record 1: images\[0\]: image 'images/green.png' unreadable"),
    ("mismatch", r"pairs.json: record 1: images: 2 image\(s\) but 1 <image> placeholder\(s\)"),
])
def test_eval_names_the_record_and_field_of_a_bad_image(tmp_path, damage, message):
    data = image_pairs(tmp_path)
    green = data / "images" / "green.png"
    if damage == "missing":
        green.unlink()
    elif damage == "truncated":
        truncated_copy(data / "images" / "red.png", green, keep=0.5)
    else:
        text = (data / "pairs.json").read_text().replace('"images/green.png"', '"images/green.png", "images/red.png"')
        (data / "pairs.json").write_text(text)
    with pytest.raises(DataError, match=message):
        prompts_and_requests("pairs", str(data), None)


@pytest.mark.llamafactory
@pytest.mark.slow
def test_served_tiny_vlm_answers_an_image_request(tmp_path, tiny_vlm, offline_env):
    from openai import OpenAI

    data = image_pairs(tmp_path / "data")
    config = build_config(tiny_vlm, "pairs", str(data), template="llava", cutoff_len=128, output_dir=str(tmp_path),
                          images=image_settings(56 * 56))
    _, base = write_infer_configs(config)
    assert yaml.safe_load(open(base))["image_max_pixels"] == 56 * 56
    _, (_, request) = prompts_and_requests("pairs", str(data), 1)[0]
    image, text = request[0]["content"]
    assert image["type"] == "image_url" and text["type"] == "text"
    two_images = [{"role": "user", "content": [image, image, text]}]
    with serving(base, env=offline_env) as server:
        client = OpenAI(base_url=server.base_url, api_key="0")
        one = client.chat.completions.create(model=server.model, messages=request, max_tokens=4)
        two = client.chat.completions.create(model=server.model, messages=two_images, max_tokens=4)
    assert isinstance(one.choices[0].message.content, str) and one.usage.completion_tokens <= 4
    # the server ran each image through the model's processor: 4 image tokens (28x28 pixels, 14-pixel patches)
    assert two.usage.prompt_tokens - one.usage.prompt_tokens == 4
    assert server.process.poll() is not None
