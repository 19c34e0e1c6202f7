"""Tests against a real model: Qwen2.5-Coder GGUF weights on llama.cpp's own server."""
