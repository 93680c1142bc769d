"""Deterministic generator of a realistic gateway/app usage log (JSONL) for the ingest benchmark.

Mixed hand-made shapes as applications write them: flat snake_case, camelCase with ``metadata`` tags,
and an OpenAI-style nested ``usage`` object with cached/reasoning details. 1,000 users with
heavy-tailed activity, 6 providers, ~30 models, ~10 % estimated counts, ~3.5 % failed requests,
timestamps increasing over ~8 hours at ~33 requests/s. About 300 bytes per line.

    python benchmarks/gen_jsonl.py [LINES] [OUT]
"""

from __future__ import annotations

import random
import sys
from datetime import datetime, timezone
from pathlib import Path

import orjson

MODELS = {
    "openai": ["gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "o3-mini", "o4-mini", "text-embedding-3-small"],
    "anthropic": ["claude-sonnet-4-5", "claude-opus-4-1", "claude-haiku-4-5", "claude-3-5-haiku-latest"],
    "gemini": ["gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.0-flash-lite", "gemma-3-27b-it"],
    "openrouter": ["meta-llama/llama-3.3-70b-instruct", "qwen/qwen3-235b-a22b", "mistralai/mistral-large",
                   "x-ai/grok-3-mini", "deepseek/deepseek-r1"],
    "deepseek": ["deepseek-chat", "deepseek-reasoner"],
    "groq": ["llama-3.1-8b-instant", "llama-3.3-70b-versatile", "qwen-qwq-32b", "moonshotai/kimi-k2-instruct",
             "openai/gpt-oss-120b", "openai/gpt-oss-20b"],
}
PROVIDERS = list(MODELS)
PROVIDER_WEIGHTS = [38, 25, 14, 8, 8, 7]
ESTIMATED_RATE = {"openai": 0.05, "anthropic": 0.05, "gemini": 0.08, "openrouter": 0.2, "deepseek": 0.1, "groq": 0.25}
PLATFORMS = ["web", "ios", "android", "api", "slack-bot"]
ENDPOINTS = ["chat", "completion", "summarise", "embed", "agent"]
START = datetime(2026, 11, 2, 8, 0, tzinfo=timezone.utc).timestamp()
RATE_PER_S = 33.3


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def records(n: int, seed: int = 20261102):
    rng = random.Random(seed)
    users = [f"user_{i:04d}" for i in range(1000)]
    # Heavy-tailed activity: a Pareto weight per user, so a few users make most requests.
    user_weights = [rng.paretovariate(1.2) for _ in users]
    ts = START
    batch = 4096
    for start in range(0, n, batch):
        size = min(batch, n - start)
        chosen_users = rng.choices(users, user_weights, k=size)
        chosen_providers = rng.choices(PROVIDERS, PROVIDER_WEIGHTS, k=size)
        for i in range(size):
            ts += rng.expovariate(RATE_PER_S)
            yield _record(rng, start + i, ts, chosen_users[i], chosen_providers[i])


def _record(rng: random.Random, n: int, ts: float, user: str, provider: str) -> dict:
    model = rng.choice(MODELS[provider])
    embedding = "embedding" in model
    prompt = max(1, int(rng.lognormvariate(6.7, 1.0)))
    completion = 0 if embedding else max(1, int(rng.lognormvariate(5.5, 0.9)))
    failed = rng.random() < 0.035
    if failed:
        completion = 0
    estimated = rng.random() < ESTIMATED_RATE[provider]
    latency = round(rng.lognormvariate(6.5, 0.6), 1)
    cost = round((prompt * 2.5 + completion * 10) / 1e6, 7)
    shape = n % 3
    if shape == 0:  # flat snake_case
        rec = {
            "timestamp": _iso(ts), "request_id": f"req_{n:09d}", "user": user, "provider": provider,
            "model": model, "prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": prompt + completion, "token_source": "estimated" if estimated else "actual",
            "latency_ms": latency, "status": "error" if failed else "success", "cost_usd": cost,
        }
        if failed:
            rec["error"] = "upstream timeout after 30s"
    elif shape == 1:  # camelCase with metadata tags
        rec = {
            "createdAt": _iso(ts), "requestId": f"r-{n:09d}", "userId": user, "provider": provider.title(),
            "modelUsed": model, "promptTokens": prompt, "completionTokens": completion,
            "totalTokens": prompt + completion, "tokenSource": "estimated" if estimated else "actual",
            "latencyMs": latency,
            "metadata": {"platform": PLATFORMS[n % 5], "source": ENDPOINTS[(n // 5) % 5]},
        }
        if failed:
            rec["status"] = "error"
            rec["error"] = {"message": "rate limited (429)"}
    else:  # nested OpenAI-style usage; first-party models name no provider (inferred from the model)
        cached = int(prompt * rng.random() * 0.5) if rng.random() < 0.3 else 0
        reasoning = int(completion * 0.6) if model.startswith(("o3", "o4", "deepseek-r")) else 0
        rec = {
            "ts": round(ts, 3), "id": f"chatcmpl-{n:09x}", "user": user, "model": model,
            "usage": {
                "prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
                "prompt_tokens_details": {"cached_tokens": cached},
                "completion_tokens_details": {"reasoning_tokens": reasoning},
            },
            "source": "estimated-by-tiktoken" if estimated else "gateway",
        }
        if provider in ("openrouter", "groq"):
            rec["provider"] = provider
        if estimated:
            rec["token_source"] = "estimated"
        if failed:
            rec["status"] = "error"
    return rec


def generate(path: Path, n: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as out:
        buf = []
        for rec in records(n):
            buf.append(orjson.dumps(rec))
            if len(buf) >= 10000:
                out.write(b"\n".join(buf) + b"\n")
                buf.clear()
        if buf:
            out.write(b"\n".join(buf) + b"\n")
    tmp.replace(path)


if __name__ == "__main__":
    lines = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(__file__).parent / ".data" / f"usage-{lines}.jsonl"
    generate(out, lines)
    print(out)
