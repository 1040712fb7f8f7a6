"""What this project relies on in other libraries beyond their everyday public API, pinned.

Each test names one thing a dependency could change under us (a subclassing hook, a module path,
an attribute, the type a client accepts). When a new release moves it, the failure here says
which contract broke, instead of a distant end-to-end test failing with a TypeError.
"""

from __future__ import annotations

import inspect
import socket

import openai
import pytest
from langchain_openai.chat_models.base import BaseChatOpenAI

from autoglm_agent.llm import DEFAULT_TIMEOUT, ChatAutoGLM


# ---------------------------------------------------------------- openai / langchain-openai
def test_timeout_is_the_openai_clients_own_type() -> None:
    """openai 3 runs on httpx2, which rejects an httpx.Timeout: hand openai only its own type."""
    assert isinstance(DEFAULT_TIMEOUT, openai.Timeout)
    client = openai.OpenAI(base_url="http://127.0.0.1:9/v1", api_key="x", timeout=DEFAULT_TIMEOUT)
    assert client.timeout == DEFAULT_TIMEOUT
    llm = ChatAutoGLM(base_url="http://127.0.0.1:9/v1")  # builds both openai clients
    assert llm.root_client is not None and llm.root_client.timeout.connect == 10.0
    assert llm.root_async_client is not None and llm.root_async_client.timeout.read == 180.0


@pytest.mark.parametrize(
    ("hook", "params"),
    [
        ("_get_request_payload", ["self", "input_", "stop", "kwargs"]),
        ("_create_chat_result", ["self", "response", "generation_info"]),
        ("_stream", ["self", "messages", "stop", "run_manager"]),
        ("_astream", ["self", "messages", "stop", "run_manager"]),
        ("_get_ls_params", ["self", "stop", "kwargs"]),
    ],
)
def test_chat_openai_subclassing_hooks(hook: str, params: list[str]) -> None:
    """ChatAutoGLM extends ChatOpenAI through the hooks langchain-openai documents for providers."""
    method = getattr(BaseChatOpenAI, hook)
    assert list(inspect.signature(method).parameters)[: len(params)] == params
    assert hook in ChatAutoGLM.__dict__, f"ChatAutoGLM no longer overrides {hook}"
    assert isinstance(inspect.getattr_static(BaseChatOpenAI, "_default_params"), property)


def test_content_block_translator_registry() -> None:
    from langchain_core.messages import AIMessage
    from langchain_core.messages.block_translators import register_translator
    from langchain_core.messages.block_translators.openai import translate_content, translate_content_chunk

    assert callable(register_translator) and callable(translate_content) and callable(translate_content_chunk)
    msg = AIMessage(
        content="do()",
        additional_kwargs={"reasoning_content": "why"},
        response_metadata={"model_provider": "autoglm"},
    )
    assert msg.content_blocks[0] == {"type": "reasoning", "reasoning": "why"}


# ---------------------------------------------------------------- adbutils
def test_adbutils_client_and_connection(simulator) -> None:
    """AdbDevice opens its own connections (one deadline per call) and reads their socket."""
    import adbutils
    from adbutils.errors import AdbError, AdbTimeout

    assert issubclass(AdbTimeout, AdbError)
    assert "socket_timeout" in inspect.signature(adbutils.AdbClient).parameters
    assert "timeout" in inspect.signature(adbutils.AdbClient.make_connection).parameters
    client = adbutils.AdbClient(host="127.0.0.1", port=5037, socket_timeout=10)
    conn = client.make_connection(timeout=10)
    try:
        assert isinstance(conn, adbutils.AdbConnection)
        assert isinstance(conn.conn, socket.socket)
    finally:
        conn.close()


# ---------------------------------------------------------------- transformers (the embedded server)
def test_transformers_pieces_the_server_builds_on() -> None:
    pytest.importorskip("torch")
    from transformers import DynamicCache
    from transformers.models.auto.processing_auto import PROCESSOR_MAPPING_NAMES

    assert PROCESSOR_MAPPING_NAMES.get("glm4v") == "Glm4vProcessor"  # image-only processor fallback
    # the batching engine merges per-layer keys/values and rebuilds a cache from them
    assert "ddp_cache_data" in inspect.signature(DynamicCache).parameters
    assert hasattr(DynamicCache(), "layers")
