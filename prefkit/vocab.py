"""LLaMA-Factory's vocabulary, in one neutral place below readers, checks, writers and the registry.

The tag tables of its dataset_info entries (``DatasetAttr`` defaults for sharegpt, and the OpenAI-style
tags its ``openai`` formatting uses), its roles, the role each tag stands for, and the column names an
entry can map. Nothing here imports another prefkit module.
"""

from __future__ import annotations

# llamafactory.data.data_utils.Role, without "system": the system prompt is a field of its own.
ROLE_USER, ROLE_ASSISTANT, ROLE_OBSERVATION, ROLE_FUNCTION = "user", "assistant", "observation", "function"
PROMPT_ROLES = (ROLE_USER, ROLE_OBSERVATION)  # the turns a model answers (even positions)
ANSWER_ROLES = (ROLE_ASSISTANT, ROLE_FUNCTION)  # the turns a model produces (odd positions)

SHAREGPT_TAGS = {"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt",
                 "observation_tag": "observation", "function_tag": "function_call", "system_tag": "system"}
OPENAI_TAGS = {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant",
               "observation_tag": "tool", "function_tag": "function_call", "system_tag": "system"}
ROLE_OF_TAG = {"user_tag": ROLE_USER, "assistant_tag": ROLE_ASSISTANT, "observation_tag": ROLE_OBSERVATION,
               "function_tag": ROLE_FUNCTION}
# What prefkit writes for each role: sharegpt's from-values and OpenAI's roles.
SHAREGPT_ROLE_TAG = {role: SHAREGPT_TAGS[tag] for tag, role in ROLE_OF_TAG.items()}
OPENAI_ROLE_TAG = {role: OPENAI_TAGS[tag] for tag, role in ROLE_OF_TAG.items()}

COLUMN_NAMES = ("prompt", "query", "response", "history", "messages", "system", "tools", "images", "videos",
                "audios", "chosen", "rejected", "kto_tag")
COLUMN_DEFAULTS = {"prompt": "instruction", "query": "input", "response": "output", "messages": "conversations"}
