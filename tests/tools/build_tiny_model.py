"""Build a tiny random Qwen2 model (9.8M parameters, 49 MB) with the Qwen2.5 tokenizer, for real CPU training.

    python tests/tools/build_tiny_model.py TOKENIZER_DIR OUT_DIR

Run it with the python of .venv-lf093 (transformers 4.52): a model saved by transformers 5 does not load
under 4.52, while one saved by 4.52 loads under both.
"""

import os
import shutil
import sys


def build(tokenizer_dir: str, out_dir: str) -> str:
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    config = Qwen2Config(vocab_size=151936, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
                         rope_theta=1000000.0, tie_word_embeddings=True, torch_dtype="float32",
                         bos_token_id=151643, eos_token_id=151645)
    model = Qwen2ForCausalLM(config)
    partial = out_dir.rstrip("/") + ".partial"
    shutil.rmtree(partial, ignore_errors=True)
    model.save_pretrained(partial, safe_serialization=True)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(os.path.join(tokenizer_dir, name), partial)
    shutil.rmtree(out_dir, ignore_errors=True)
    os.replace(partial, out_dir)
    return out_dir


if __name__ == "__main__":
    print(build(sys.argv[1], sys.argv[2]))
