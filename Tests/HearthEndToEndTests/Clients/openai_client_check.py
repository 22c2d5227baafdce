"""Drives a running Hearth gateway with the official `openai` Python package.

usage: openai_client_check.py BASE_URL API_KEY MODEL
Prints one JSON object with what the SDK saw; the Swift test checks it.
"""
import json
import sys

import openai

base_url, api_key, model = sys.argv[1:4]
client = openai.OpenAI(base_url=base_url + "/v1", api_key=api_key, max_retries=0)
result = {}

stream = client.chat.completions.create(
    model=model,
    messages=[{"role": "user", "content": "Name two fruits."}],
    max_tokens=16,
    temperature=0,
    stream=True,
    stream_options={"include_usage": True},
)
pieces, usage, finish = [], None, None
for chunk in stream:
    if chunk.choices:
        delta = chunk.choices[0].delta
        if delta and delta.content:
            pieces.append(delta.content)
        finish = chunk.choices[0].finish_reason or finish
    if chunk.usage:
        usage = {"prompt_tokens": chunk.usage.prompt_tokens, "completion_tokens": chunk.usage.completion_tokens}
result["stream_text"] = "".join(pieces)
result["stream_chunks"] = len(pieces)
result["stream_usage"] = usage
result["stream_finish"] = finish

completion = client.chat.completions.create(
    model=model, messages=[{"role": "user", "content": "Say yes."}], max_tokens=4, temperature=0
)
result["plain_text"] = completion.choices[0].message.content
result["plain_usage"] = completion.usage.completion_tokens if completion.usage else None

# n > 1: the gateway fans the request out (llama.cpp's server answers one choice) and joins the choices.
several = client.chat.completions.create(
    model=model, messages=[{"role": "user", "content": "Name a colour."}], max_tokens=8, temperature=0.7, seed=3, n=2
)
result["choices_indices"] = [choice.index for choice in several.choices]
result["choices_texts"] = [bool(choice.message.content) for choice in several.choices]
result["choices_usage"] = [several.usage.prompt_tokens, several.usage.completion_tokens] if several.usage else None
per_index = {}
for chunk in client.chat.completions.create(
    model=model, messages=[{"role": "user", "content": "Name a colour."}], max_tokens=8, n=2, stream=True
):
    for choice in chunk.choices:
        per_index[choice.index] = per_index.get(choice.index, "") + (choice.delta.content or "")
result["choices_streamed"] = sorted(per_index)
result["choices_streamed_texts"] = [bool(per_index[i]) for i in sorted(per_index)]

result["models"] = [m.id for m in client.models.list().data]
result["retrieved"] = client.models.retrieve(model).id
try:
    client.models.retrieve("no-such-model")
    result["retrieve_unknown"] = "no error"
except openai.NotFoundError as error:
    result["retrieve_unknown"] = error.code or "not_found"

try:
    client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "x"}])
    result["unknown_model"] = "no error"
except openai.NotFoundError as error:
    result["unknown_model"] = error.code or "not_found"

try:
    openai.OpenAI(base_url=base_url + "/v1", api_key="wrong", max_retries=0).chat.completions.create(
        model=model, messages=[{"role": "user", "content": "x"}]
    )
    result["bad_key"] = "no error"
except openai.AuthenticationError as error:
    result["bad_key"] = error.code or "authentication"

try:
    client.chat.completions.create(model=model, messages=[])
    result["bad_request"] = "no error"
except openai.BadRequestError as error:
    result["bad_request"] = error.param

print(json.dumps(result))
