"""Drives a running Hearth gateway with two clients people use on top of OpenAI's API: LangChain's `ChatOpenAI`
and Simon Willison's `llm` command line tool (as an extra OpenAI-compatible model).

usage: ecosystem_clients_check.py BASE_URL API_KEY MODEL
Prints one JSON object with what each client saw; the Swift test checks it.
"""
import json
import os
import subprocess
import sys
import tempfile

from langchain_openai import ChatOpenAI

base_url, api_key, model = sys.argv[1:4]
result = {}

chat = ChatOpenAI(model=model, base_url=base_url + "/v1", api_key=api_key, temperature=0, max_tokens=16, max_retries=0)
answer = chat.invoke("Say yes.")
result["langchain_text"] = answer.content
result["langchain_usage"] = (answer.usage_metadata or {}).get("output_tokens")
pieces = [chunk.content for chunk in chat.stream("Name two fruits.")]
result["langchain_stream_chunks"] = len([p for p in pieces if p])
result["langchain_stream_text"] = "".join(pieces)

# llm reads extra OpenAI-compatible models and keys from its user folder.
with tempfile.TemporaryDirectory() as folder:
    with open(os.path.join(folder, "extra-openai-models.yaml"), "w") as models:
        models.write(f"- model_id: hearth\n  model_name: {model}\n  api_base: {base_url}/v1\n  api_key_name: hearth\n")
    with open(os.path.join(folder, "keys.json"), "w") as keys:
        json.dump({"hearth": api_key}, keys)
    environment = dict(os.environ, LLM_USER_PATH=folder)
    llm = os.path.join(os.path.dirname(sys.executable), "llm")
    run = subprocess.run(
        [llm, "-m", "hearth", "-o", "max_tokens", "16", "-o", "temperature", "0", "--no-log", "Say yes."],
        capture_output=True, text=True, env=environment, timeout=120,
    )
    result["llm_status"] = run.returncode
    result["llm_text"] = run.stdout.strip()
    result["llm_error"] = run.stderr.strip()[-500:]

print(json.dumps(result))
