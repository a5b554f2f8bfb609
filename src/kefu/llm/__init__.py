"""The LLM layer (Qwen3-8B on vLLM or any OpenAI-compatible server): one `ChatModel`
Protocol, the OpenAI-compatible client, wrappers for resilience and metrics, the stage-2
command generator and grounded answers. kefu works without it; see docs/serving-qwen3.md."""
