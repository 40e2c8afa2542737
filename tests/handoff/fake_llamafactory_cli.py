"""A stand-in for ``llamafactory-cli api CONFIG [key=value ...]`` that starts in well under a second.

Like LLaMA-Factory's API it reads API_HOST, API_PORT, API_MODEL_NAME and API_KEY (then every request needs
``Authorization: Bearer <API_KEY>``, else 401), answers GET /v1/models and POST /v1/chat/completions
("fake answer", served by tests/helpers/fake_openai.py) and only listens once its "model" has loaded. Unlike it,
it also starts a grandchild process (so that a test can see whether the whole process group is stopped) and
records what it did in $FAKE_STATE: ``leader.pid``, ``grandchild.pid``, ``args.json``.

Knobs: FAKE_LOAD_SECONDS (time before listening), FAKE_REQUIRED_KEY (a key other than API_KEY),
FAKE_STUBBORN=1 (the grandchild ignores SIGTERM: only SIGKILL stops it).
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for helpers
from helpers.fake_openai import Script, Server  # noqa: E402  (the one stand-in server's protocol code)

GRANDCHILD = """
import signal, sys, time
if sys.argv[1] == "1":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
while True:
    time.sleep(60)
"""


def main() -> None:
    state = os.environ["FAKE_STATE"]
    os.makedirs(state, exist_ok=True)
    grandchild = subprocess.Popen([sys.executable, "-c", GRANDCHILD, os.environ.get("FAKE_STUBBORN", "0")])
    for name, value in (("args.json", json.dumps(sys.argv[1:])), ("grandchild.pid", str(grandchild.pid)),
                        ("leader.pid", str(os.getpid()))):
        with open(os.path.join(state, name + ".tmp"), "w") as f:
            f.write(value)
        os.replace(os.path.join(state, name + ".tmp"), os.path.join(state, name))
    time.sleep(float(os.environ.get("FAKE_LOAD_SECONDS", "0")))
    model = os.environ.get("API_MODEL_NAME", "gpt-3.5-turbo")
    key = os.environ.get("FAKE_REQUIRED_KEY") or os.environ.get("API_KEY")

    script = Script(lambda request, i: "fake answer", api_key=key, model=model)
    Server(script, os.environ["API_HOST"], int(os.environ["API_PORT"])).serve_forever()


if __name__ == "__main__":
    main()
