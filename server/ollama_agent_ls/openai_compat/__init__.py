"""The OpenAI-compatible chat completions backend (llama.cpp's server, vLLM, SGLang, LM Studio)."""
