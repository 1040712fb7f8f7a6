"""The scripted OpenAI-compatible endpoint, driven by the real ``openai`` client, httpx and LangChain."""

from __future__ import annotations

import json
import threading
from typing import Any

import httpx
import openai
import pytest
from langchain_openai import ChatOpenAI

from autoglm_agent.testing import ScriptedEndpoint, ScriptedError

REPLY = '<think>I see the home screen</think><answer>do(action="Launch", app="Settings")</answer>'
THINKING = "I see the home screen"
ANSWER = '<answer>do(action="Launch", app="Settings")</answer>'
THINK_ON: dict[str, Any] = {"enable_thinking": True, "return_reasoning": True}
MESSAGES: list[Any] = [{"role": "user", "content": "open settings"}]


def client(ep: ScriptedEndpoint, *, api_key: str = "EMPTY", max_retries: int = 0) -> openai.OpenAI:
    return openai.OpenAI(base_url=ep.base_url, api_key=api_key, max_retries=max_retries, timeout=10)


def test_non_streaming_field_mode_splits_reasoning_when_thinking_requested() -> None:
    with ScriptedEndpoint([REPLY]) as ep:
        resp = client(ep).chat.completions.create(
            model="autoglm-phone-9b", messages=MESSAGES, extra_body=THINK_ON
        )
    message = resp.choices[0].message
    assert message.content == ANSWER
    assert message.model_extra is not None
    assert message.model_extra["reasoning_content"] == THINKING
    assert resp.choices[0].finish_reason == "stop"
    assert resp.model == "autoglm-phone-9b"
    assert resp.usage is not None
    assert resp.usage.completion_tokens > 0
    assert resp.usage.total_tokens == resp.usage.prompt_tokens + resp.usage.completion_tokens
    assert ep.requests[0]["enable_thinking"] is True
    assert ep.requests[0]["messages"] == MESSAGES


@pytest.mark.parametrize("flag", ["enable_thinking", "return_reasoning", "chat_template_kwargs"])
def test_any_thinking_flag_turns_splitting_on(flag: str) -> None:
    body = (
        {"chat_template_kwargs": {"enable_thinking": True}}
        if flag == "chat_template_kwargs"
        else {flag: True}
    )
    with ScriptedEndpoint([REPLY]) as ep:
        message = (
            client(ep)
            .chat.completions.create(model="m", messages=MESSAGES, extra_body=body)
            .choices[0]
            .message
        )
    assert message.content == ANSWER
    assert (message.model_extra or {}).get("reasoning_content") == THINKING


def test_without_thinking_flags_or_in_tags_mode_the_tags_stay_in_content() -> None:
    with ScriptedEndpoint([REPLY]) as ep:
        plain = client(ep).chat.completions.create(model="m", messages=MESSAGES).choices[0].message
    assert plain.content == REPLY
    assert "reasoning_content" not in (plain.model_extra or {})
    with ScriptedEndpoint([REPLY], reasoning_mode="tags") as ep:
        tagged = client(ep).chat.completions.create(model="m", messages=MESSAGES, extra_body=THINK_ON)
    assert tagged.choices[0].message.content == REPLY


def test_reasoning_field_name_can_be_reasoning() -> None:
    with ScriptedEndpoint([REPLY], reasoning_field="reasoning") as ep:
        message = (
            client(ep)
            .chat.completions.create(model="m", messages=MESSAGES, extra_body=THINK_ON)
            .choices[0]
            .message
        )
    assert (message.model_extra or {}).get("reasoning") == THINKING
    assert "reasoning_content" not in (message.model_extra or {})


@pytest.mark.parametrize("chunk_size", [1, 3, 8])
def test_streaming_field_mode_sends_reasoning_then_content_deltas(chunk_size: int) -> None:
    with ScriptedEndpoint([REPLY], chunk_size=chunk_size) as ep:
        stream = client(ep).chat.completions.create(
            model="m",
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
            extra_body=THINK_ON,
        )
        reasoning: list[str] = []
        content: list[str] = []
        finish: list[str] = []
        usage = None
        for chunk in stream:
            if chunk.usage is not None:
                usage = chunk.usage
            for choice in chunk.choices:
                extra = choice.delta.model_extra or {}
                if extra.get("reasoning_content"):
                    reasoning.append(extra["reasoning_content"])
                    assert not choice.delta.content
                if choice.delta.content:
                    content.append(choice.delta.content)
                if choice.finish_reason:
                    finish.append(choice.finish_reason)
    assert "".join(reasoning) == THINKING
    assert "".join(content) == ANSWER
    assert all(len(piece) <= chunk_size for piece in reasoning + content)
    assert len(content) == -(-len(ANSWER) // chunk_size)
    assert finish == ["stop"]
    assert usage is not None
    assert usage.completion_tokens > 0


def test_streaming_tags_mode_and_no_usage_unless_asked() -> None:
    with ScriptedEndpoint([REPLY], reasoning_mode="tags", chunk_size=2) as ep:
        chunks = list(
            client(ep).chat.completions.create(model="m", messages=MESSAGES, stream=True, extra_body=THINK_ON)
        )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == REPLY
    assert all(c.usage is None for c in chunks)


def test_sse_wire_format() -> None:
    with (
        ScriptedEndpoint(["hello world"], chunk_size=5) as ep,
        httpx.stream(
            "POST",
            f"{ep.base_url}/chat/completions",
            json={
                "model": "m",
                "messages": MESSAGES,
                "stream": True,
                "stream_options": {"include_usage": True},
            },
            timeout=10,
        ) as resp,
    ):
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in resp.iter_lines() if line]
    assert all(line.startswith("data: ") for line in lines)
    assert lines[-1] == "data: [DONE]"
    events = [json.loads(line[len("data: ") :]) for line in lines[:-1]]
    assert events[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert all(e["object"] == "chat.completion.chunk" and e["id"] == events[0]["id"] for e in events)
    assert [e["choices"][0]["delta"].get("content") for e in events[1:4]] == ["hello", " worl", "d"]
    assert events[-2]["choices"][0]["finish_reason"] == "stop"
    assert events[-1]["choices"] == []
    assert events[-1]["usage"]["completion_tokens"] == 3  # 11 bytes / 4, rounded up


def test_callable_replies_see_the_request_and_may_fail() -> None:
    def echo(body: dict[str, Any]) -> str:
        return f"<answer>{body['messages'][-1]['content']}</answer>"

    def boom(body: dict[str, Any]) -> str:
        raise RuntimeError("no idea")

    with ScriptedEndpoint([echo, lambda body: ScriptedError(429, "slow down"), boom]) as ep:
        c = client(ep)
        first = c.chat.completions.create(model="m", messages=[{"role": "user", "content": "ping"}])
        assert first.choices[0].message.content == "<answer>ping</answer>"
        with pytest.raises(openai.RateLimitError, match="slow down"):
            c.chat.completions.create(model="m", messages=MESSAGES)
        with pytest.raises(openai.InternalServerError, match="RuntimeError: no idea"):
            c.chat.completions.create(model="m", messages=MESSAGES)
    assert len(ep.failures) == 1
    assert "no idea" in ep.failures[0]


def test_scripted_errors_and_exhaustion_use_the_openai_error_shape() -> None:
    with ScriptedEndpoint([ScriptedError(503, "model is loading")]) as ep:
        c = client(ep)
        with pytest.raises(openai.APIStatusError) as info:
            c.chat.completions.create(model="m", messages=MESSAGES)
        assert info.value.status_code == 503
        assert isinstance(info.value.body, dict)
        assert info.value.body["message"] == "model is loading"
        assert info.value.body["type"] == "service_unavailable"
        with pytest.raises(openai.InternalServerError, match="script exhausted") as exhausted:
            c.chat.completions.create(model="m", messages=MESSAGES)
        assert exhausted.value.status_code == 500
    assert len(ep.requests) == 2


def test_client_retries_reach_the_next_scripted_reply() -> None:
    script = [
        ScriptedError(500, "flaky", retry_after_s=0.01),
        ScriptedError(503, "busy", retry_after_s=0.01),
        REPLY,
    ]
    with ScriptedEndpoint(script) as ep:
        resp = client(ep, max_retries=2).chat.completions.create(model="m", messages=MESSAGES)
    assert resp.choices[0].message.content == REPLY
    assert len(ep.requests) == 3
    assert ep.remaining == 0


def test_api_key_is_enforced_on_every_route() -> None:
    with ScriptedEndpoint([REPLY], api_key="sekrit") as ep:
        with pytest.raises(openai.AuthenticationError) as info:
            client(ep, api_key="wrong").chat.completions.create(model="m", messages=MESSAGES)
        assert info.value.status_code == 401
        assert info.value.body["code"] == "invalid_api_key"  # type: ignore[index]
        with pytest.raises(openai.AuthenticationError):
            client(ep, api_key="wrong").models.list()
        resp = httpx.post(f"{ep.base_url}/chat/completions", json={"model": "m", "messages": MESSAGES})
        assert resp.status_code == 401
        assert ep.remaining == 1  # refused requests do not use up the script
        good = client(ep, api_key="sekrit")
        assert [m.id for m in good.models.list()] == ["autoglm-phone-9b"]
        assert good.chat.completions.create(model="m", messages=MESSAGES).choices[0].message.content == REPLY


def test_models_health_and_bad_requests() -> None:
    with ScriptedEndpoint(model="tiny-glm") as ep:
        assert [m.id for m in client(ep).models.list()] == ["tiny-glm"]
        root = ep.base_url.removesuffix("/v1")
        assert httpx.get(f"{root}/health").json() == {"status": "ok"}
        assert httpx.get(f"{root}/nope").status_code == 404
        bad = httpx.post(f"{ep.base_url}/chat/completions", content=b"{not json", timeout=5)
        assert bad.status_code == 400
        assert "not JSON" in bad.json()["error"]["message"]
        empty = httpx.post(f"{ep.base_url}/chat/completions", json={"model": "m", "messages": []}, timeout=5)
        assert empty.status_code == 400


def test_add_stop_sequences_and_model_echo() -> None:
    with ScriptedEndpoint() as ep:
        ep.add("<answer>finish(message='done')</answer> trailing", REPLY)
        assert ep.remaining == 2
        c = client(ep)
        cut = c.chat.completions.create(model="other-model", messages=MESSAGES, stop=["</answer>"])
        assert cut.choices[0].message.content == "<answer>finish(message='done')"
        assert cut.model == "other-model"
        assert c.chat.completions.create(model="m", messages=MESSAGES).choices[0].message.content == REPLY
        assert ep.last_request["model"] == "m"


def test_delay_and_concurrent_clients() -> None:
    n = 8
    # every reply waits until all n requests are inside the server at once: a server that
    # answered one request after another would break the barrier (and fail the calls)
    barrier = threading.Barrier(n, timeout=10)

    def reply(i: int):
        def answer(_body: dict) -> str:
            barrier.wait()
            return f"<answer>{i}</answer>"

        return answer

    with ScriptedEndpoint([reply(i) for i in range(n)], delay_s=0.01) as ep:
        results: list[str] = []
        lock = threading.Lock()

        def call() -> None:
            resp = client(ep).chat.completions.create(model="m", messages=MESSAGES)
            with lock:
                results.append(resp.choices[0].message.content or "")

        threads = [threading.Thread(target=call) for _ in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(20)
    assert sorted(results) == sorted(f"<answer>{i}</answer>" for i in range(n))  # each reply used once
    assert len(ep.requests) == n
    assert not barrier.broken, "requests were not served concurrently"


def test_langchain_chat_openai_against_the_endpoint() -> None:
    with ScriptedEndpoint([REPLY, REPLY], chunk_size=3) as ep:
        llm = ChatOpenAI(
            model="autoglm-phone-9b",
            base_url=ep.base_url,
            api_key="EMPTY",
            extra_body={"enable_thinking": True, "return_reasoning": True},
            streaming=True,
            max_retries=0,
        )
        message = llm.invoke("open settings")
        chunks = list(llm.stream("open settings"))
    # Plain ChatOpenAI drops the non-standard reasoning field: only the answer remains.
    assert message.content == ANSWER
    assert "".join(str(c.content) for c in chunks) == ANSWER
    for body in ep.requests:
        assert body["stream"] is True
        assert body["enable_thinking"] is True
        assert body["return_reasoning"] is True
        assert body["messages"] == [{"role": "user", "content": "open settings"}]


def test_stop_closes_the_port() -> None:
    ep = ScriptedEndpoint(["x"]).start()
    url = ep.base_url
    assert ep.start() is ep  # idempotent
    ep.stop()
    ep.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/models", timeout=2)
    with pytest.raises(RuntimeError, match="not started"):
        _ = ep.base_url


def test_constructor_validation() -> None:
    with pytest.raises(ValueError, match="reasoning_mode"):
        ScriptedEndpoint(reasoning_mode="xml")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="chunk_size"):
        ScriptedEndpoint(chunk_size=0)
    with pytest.raises(ValueError, match="400-599"):
        ScriptedError(200, "fine")
