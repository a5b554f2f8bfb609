"""Makes real model calls impossible in tests.

`install()` (called from `tests/conftest.py`) makes `OpenAICompatChatModel` refuse, when
it is built, any base_url that is not a `FakeOpenAIServer` running in this process.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from kefu.llm import openai_compat
from kefu.testing.fake_openai import running_endpoints


def install() -> None:
    openai_compat.set_base_url_check(check_base_url)


def uninstall() -> None:
    openai_compat.set_base_url_check(None)


def check_base_url(base_url: str) -> None:
    """Raises RuntimeError unless `base_url` points at a running `FakeOpenAIServer`."""
    parts = urlsplit(base_url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        port = 0
    if f"{parts.hostname}:{port}" not in running_endpoints():
        raise RuntimeError(
            f"llm_guard: tests may not call a real model, and {base_url!r} is not a running "
            "FakeOpenAIServer. Start one (`with FakeOpenAIServer(...) as srv:`, from "
            "kefu.testing.fake_openai) and use `srv.url` as the base_url."
        )
