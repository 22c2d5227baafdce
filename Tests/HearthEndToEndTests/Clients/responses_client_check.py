"""Drives a running Hearth gateway's Responses API with the official `openai` Python package.

usage: responses_client_check.py BASE_URL API_KEY MODEL text|tools
Every response object and streamed event is also validated against the SDK's own (pydantic) types, strictly: a
field missing or of the wrong type fails the run. Prints one JSON object with what the SDK saw; the Swift test
checks it.
"""
import json
import sys

import openai
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

base_url, api_key, model, mode = sys.argv[1:5]
client = openai.OpenAI(base_url=base_url + "/v1", api_key=api_key, max_retries=0)
events_adapter = TypeAdapter(ResponseStreamEvent)
result = {}


def strict_response(raw):
    """The raw JSON of a non-streamed response, validated as the SDK's Response type."""
    return Response.model_validate(raw.http_response.json())


def streamed(**kwargs):
    """Event types, validated events, and the final response of a streamed call."""
    types = []
    final = None
    for event in client.responses.create(stream=True, **kwargs):
        events_adapter.validate_python(event.to_dict())
        types.append(event.type)
        if event.type in ("response.completed", "response.incomplete", "response.failed"):
            final = Response.model_validate(event.response.to_dict())
    return types, final


if mode == "text":
    raw = client.responses.with_raw_response.create(
        model=model, input="Say yes.", instructions="Answer in one word.", max_output_tokens=8, temperature=0
    )
    plain = strict_response(raw)
    result["plain_text"] = plain.output_text
    result["plain_id"] = plain.id
    result["plain_status"] = plain.status
    result["plain_usage"] = plain.usage.output_tokens if plain.usage else None
    result["plain_request_id"] = raw.headers.get("x-request-id")
    result["plain_node"] = raw.headers.get("x-hearth-node")

    types, final = streamed(
        model=model,
        input=[
            {"role": "user", "content": "Name a fruit."},
            {"role": "assistant", "content": [{"type": "output_text", "text": "Apple."}]},
            {"role": "user", "content": [{"type": "input_text", "text": "Name two more fruits."}]},
        ],
        max_output_tokens=16,
        temperature=0,
        metadata={"task": "chat"},
    )
    result["stream_types"] = types
    result["stream_text"] = final.output_text if final else None
    result["stream_status"] = final.status if final else None
    result["stream_usage"] = final.usage.output_tokens if final and final.usage else None

    # The SDK's stream helper keeps its own snapshot from the events: it must agree with the final response.
    with client.responses.stream(model=model, input="Say hello.", max_output_tokens=256, temperature=0) as stream:
        deltas = "".join(event.delta for event in stream if event.type == "response.output_text.delta")
        helper_final = stream.get_final_response()
    result["helper_deltas"] = deltas
    result["helper_text"] = helper_final.output_text

    try:
        client.responses.create(model=model, input="x", previous_response_id="resp_123")
        result["previous_response"] = "no error"
    except openai.BadRequestError as error:
        result["previous_response"] = error.param
    try:
        client.responses.create(model=model, input=[{"role": "user", "content": [{"type": "input_image", "image_url": "x"}]}])
        result["image_input"] = "no error"
    except openai.BadRequestError as error:
        result["image_input"] = error.param
    try:
        client.responses.retrieve("resp_123")
        result["retrieve"] = "no error"
    except openai.NotFoundError as error:
        result["retrieve"] = error.code
else:
    tools = [
        {
            "type": "function",
            "name": "weather",
            "description": "The weather in a city.",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        }
    ]
    types, final = streamed(model=model, input="Weather in Oslo?", tools=tools, metadata={"task": "chat"})
    calls = [item for item in final.output if item.type == "function_call"] if final else []
    result["stream_types"] = types
    result["stream_text"] = final.output_text if final else None
    result["calls"] = [{"name": c.name, "call_id": c.call_id, "arguments": json.loads(c.arguments)} for c in calls]

    # The call's result goes back as input items; the answer to that comes as text.
    followup = strict_response(
        client.responses.with_raw_response.create(
            model=model,
            tools=tools,
            metadata={"task": "chat"},
            input=[
                {"role": "user", "content": "Weather in Oslo?"},
                {"type": "function_call", "call_id": calls[0].call_id, "name": "weather", "arguments": calls[0].arguments},
                {"type": "function_call_output", "call_id": calls[0].call_id, "output": "4 C, rain"},
            ],
        )
    )
    result["followup_text"] = followup.output_text

    # The same tool call streamed over chat completions, joined from its deltas as the SDK's users do.
    chat_calls = {}
    for chunk in client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "Weather in Oslo?"}],
        tools=[{"type": "function", "function": {k: v for k, v in tools[0].items() if k != "type"}}],
        stream=True,
        metadata={"task": "chat"},
    ):
        for choice in chunk.choices:
            for call in choice.delta.tool_calls or []:
                entry = chat_calls.setdefault(call.index, {"name": "", "arguments": ""})
                entry["name"] = (call.function.name if call.function else None) or entry["name"]
                entry["arguments"] += (call.function.arguments if call.function else None) or ""
    result["chat_calls"] = [{"name": c["name"], "arguments": json.loads(c["arguments"])} for _, c in sorted(chat_calls.items())]

print(json.dumps(result))
