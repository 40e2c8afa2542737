"""The stand-in OpenAI-compatible server (tests/helpers/fake_openai.py): each scripted fault, as the real openai
client (or urllib) sees it, and the per-request record that resume tests rely on."""

from __future__ import annotations

import functools
import http.client
import json
import threading
import time
import urllib.request
from typing import Any

import pytest

from helpers.fake_openai import (DIE, HANG, HTML, NOT_JSON, TRUNCATED, Script, content, distinct_prompts, prompts_asked,
                                 scripted_server, status, trickle)

openai = pytest.importorskip("openai")


def echo(request: dict[str, Any], i: int) -> str:
    return f"answer {i} to {request['messages'][-1]['content']}"


@functools.lru_cache
def client(url: str, timeout: float) -> Any:
    return openai.OpenAI(base_url=url, api_key="0", max_retries=0, timeout=timeout)


def ask(url: str, prompt: str = "Hi", timeout: float = 2.0) -> Any:
    return client(url, timeout).chat.completions.create(model="m", messages=[{"role": "user", "content": prompt}])


def post(url: str, timeout: float = 2.0) -> http.client.HTTPResponse:
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "Hi"}]}).encode()
    request = urllib.request.Request(f"{url}/chat/completions", body, {"Content-Type": "application/json"})
    return urllib.request.urlopen(request, timeout=timeout)


def test_statuses_with_error_bodies_and_retry_after_then_a_normal_answer():
    script = Script(echo, faults=[500, status(401), status(429, retry_after=3)])
    with scripted_server(script) as url:
        for error, code in ((openai.InternalServerError, 500), (openai.AuthenticationError, 401)):
            with pytest.raises(error) as raised:
                ask(url)
            assert raised.value.status_code == code and raised.value.body["message"] == f"scripted {code}"
        with pytest.raises(openai.RateLimitError) as raised:
            ask(url)
        assert raised.value.response.headers["Retry-After"] == "3"
        assert ask(url, "Hello").choices[0].message.content == "answer 0 to Hello"
    assert script.modes == ["status 500", "status 401", "status 429", "ok"]


def test_a_fault_function_and_the_count_of_distinct_prompts():
    script = Script(echo, fault=lambda n: 503 if n == 1 else None)  # only the second request fails
    with scripted_server(script) as url:
        ask(url, "a")
        with pytest.raises(openai.InternalServerError):
            ask(url, "b")
        ask(url, "b")
        ask(url, "a")
    assert script.modes == ["ok", "status 503", "ok", "ok"]
    assert distinct_prompts(script) == 2 and prompts_asked(script, "ok") == {"a": 2, "b": 1}


def test_a_request_without_the_key_is_refused_and_recorded():
    script = Script(echo, api_key="sesame")
    with scripted_server(script) as url:
        with pytest.raises(openai.AuthenticationError):
            ask(url)
    assert script.modes == ["unauthorized"] and len(script.requests) == 1


def test_a_hanging_request_times_out_and_does_not_hold_up_the_shutdown():
    script = Script(echo, faults=[HANG, HANG])
    with scripted_server(script) as url:
        started = time.monotonic()
        with pytest.raises(openai.APITimeoutError):
            ask(url, timeout=0.3)
        assert time.monotonic() - started < 1
        threading.Thread(target=lambda: pytest.raises(openai.APIConnectionError, ask, url), daemon=True).start()
        for _ in range(200):  # until that request hangs too
            if len(script.modes) == 2:
                break
            time.sleep(0.01)
        leaving = time.monotonic()
    assert time.monotonic() - leaving < 0.5 and script.modes == ["hang", "hang"]


def test_trickle_sends_headers_at_once_and_one_byte_per_interval():
    interval = 0.002
    with scripted_server(Script(lambda request, i: "x", faults=[trickle(interval), trickle(interval)])) as url:
        started = time.monotonic()
        with post(url) as response:
            assert response.status == 200 and time.monotonic() - started < 0.2  # the headers came at once
            body = response.read()
        assert time.monotonic() - started >= (len(body) - 1) * interval and len(body) > 200
        assert json.loads(body)["choices"][0]["message"]["content"] == "x"
        # each read waits less than the client's timeout, so the whole answer takes longer than it unpunished
        started = time.monotonic()
        assert ask(url, timeout=0.2).choices[0].message.content == "x"
        assert time.monotonic() - started > 0.2


def test_a_truncated_body_is_a_connection_error():
    with scripted_server(Script(echo, faults=[TRUNCATED, TRUNCATED])) as url:
        with post(url) as response, pytest.raises(http.client.IncompleteRead):
            response.read()
        with pytest.raises(openai.APIConnectionError) as raised:
            ask(url)
        assert not isinstance(raised.value, openai.APITimeoutError)


def test_plain_text_and_html_bodies_with_status_200():
    with scripted_server(Script(echo, faults=[NOT_JSON, HTML, HTML])) as url:
        with post(url) as response:
            assert response.headers["Content-Type"] == "text/plain" and b"reset" in response.read()
        with post(url) as response:
            assert response.headers["Content-Type"] == "text/html" and response.read().startswith(b"<html>")
        reply = ask(url)  # the openai client hands back the text as it is, not a ChatCompletion
        assert isinstance(reply, str) and "502 Bad Gateway" in reply


def test_content_that_is_not_text():
    values = [7, {"a": 1}, None]
    with scripted_server(Script(echo, faults=[content(v) for v in values])) as url:
        assert [ask(url).choices[0].message.content for _ in values] == values


@pytest.mark.parametrize("how", ["die_after", "DIE"])
def test_death_mid_run_refuses_every_later_request(how: str):
    script = Script(echo, die_after=2) if how == "die_after" else Script(echo, faults=[None, None, DIE])
    with scripted_server(script) as url:
        assert [ask(url, p).choices[0].message.content for p in "ab"] == ["answer 0 to a", "answer 0 to b"]
        for prompt in "cd":
            started = time.monotonic()
            with pytest.raises(openai.APIConnectionError):
                ask(url, prompt)
            assert time.monotonic() - started < 1
        with pytest.raises(OSError):
            urllib.request.urlopen(f"{url}/models", timeout=1)
    assert script.modes[:2] == ["ok", "ok"] and set(script.modes[2:]) <= {"die", "dead"}
    assert prompts_asked(script, "ok") == {"a": 1, "b": 1}
