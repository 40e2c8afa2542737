"""``prefkit train`` on image pairs: the multimodal YAML (vision template, pixel limits, frozen vision tower,
media_dir) and a real LLaMA-Factory DPO run of the tiny vision-language model (tests/tools/build_tiny_vlm.py) on
Pillow images."""

import json
import math

import pytest
import yaml
from image_pairs import image_pairs

from conftest import fixture
from prefkit import convert
from prefkit.errors import UsageError
from prefkit.handoff.train import train
from prefkit.handoff.train_config import build_config, image_settings, vision_template


def test_image_keys_only_for_a_dataset_with_images(tmp_path):
    text = build_config("m", "pairs", "data", template="qwen")
    assert not {"image_max_pixels", "freeze_vision_tower", "media_dir"} & set(text)
    config = build_config("m", "pairs", "data", template="llava", images=image_settings(3136))
    assert (config["image_max_pixels"], config["image_min_pixels"]) == (3136, 32 * 32)
    assert config["freeze_vision_tower"] is True and config["media_dir"] == "data"
    with pytest.raises(UsageError, match="--image-max-pixels 0"):
        image_settings(0)
    (tmp_path / "vlm").mkdir()
    (tmp_path / "vlm" / "config.json").write_text(json.dumps({"model_type": "qwen2_5_vl"}))
    assert vision_template(str(tmp_path / "vlm")) == "qwen2_vl" and vision_template(str(tmp_path)) is None


def test_pixel_limits_on_a_dataset_without_images_are_refused(tmp_path, cli):
    convert([fixture("dpo_en_demo.sample.json")], str(tmp_path / "text.json"), register="text", dataset_dir=str(tmp_path))
    result = cli("train", "--dataset", "text", "--dataset-dir", tmp_path, "--model", "Qwen/Qwen2-VL-2B-Instruct",
                 "--image-max-pixels", "3136", "--dry-run")
    assert result.exit_code == 2 and "dataset 'text' has no images column" in result.output


@pytest.mark.llamafactory
def test_a_text_template_for_image_pairs_is_refused(tmp_path, tiny_vlm, offline_env):
    data = image_pairs(tmp_path)
    with pytest.raises(UsageError, match="has images but template 'qwen' takes none"):
        train("pairs", str(data), tiny_vlm, template="qwen", cutoff_len=128, dry_run=True, validate_first=False)


@pytest.mark.llamafactory
@pytest.mark.slow
def test_dpo_on_image_pairs_trains_the_tiny_vlm(tmp_path, tiny_vlm, offline_env, cli):
    data, out = image_pairs(tmp_path / "data"), tmp_path / "out"
    result = cli("train", "--dataset", "pairs", "--dataset-dir", data, "--model", tiny_vlm, "--cutoff-len", "128",
                 "--image-max-pixels", "3136", "--output-dir", out, "--set", "max_steps=2", "--set", "logging_steps=1",
                 "--set", "gradient_accumulation_steps=1", "--set", "save_steps=2", "--set", "learning_rate=1e-3", "-q")
    log = (out / "llamafactory.log").read_text() if (out / "llamafactory.log").exists() else ""
    assert result.exit_code == 0, result.output + log[-3000:]
    config = yaml.safe_load((out / "train_dpo.yaml").read_text())
    assert config["template"] == "llava"  # auto: the tiny model's model_type
    assert (config["image_max_pixels"], config["image_min_pixels"], config["freeze_vision_tower"]) == (3136, 1024, True)
    assert config["media_dir"] == str(data) and config["dataset"] == "pairs"
    assert (out / "adapter_model.safetensors").stat().st_size > 0
    steps = [json.loads(line) for line in (out / "trainer_log.jsonl").read_text().splitlines()]
    losses = [step["loss"] for step in steps if "loss" in step]
    assert len(losses) == 2 and all(math.isfinite(loss) for loss in losses)
    # LLaMA-Factory's llava plugin expanded each <image> into the tower's 4 patch tokens (28x28 pixels, 14-pixel patches)
    assert "USER: " + "<image>" * 4 + "What colour" in log
    infer = yaml.safe_load((out / "infer.yaml").read_text())
    assert (infer["template"], infer["image_max_pixels"], infer["adapter_name_or_path"]) == ("llava", 3136, str(out))
