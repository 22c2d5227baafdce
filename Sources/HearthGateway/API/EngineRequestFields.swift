/// The request fields the gateway forwards to engines: the OpenAI fields Hearth supports, plus a few sampling
/// extensions that change neither what a request costs nor where it runs.
///
/// Everything else is dropped before the body leaves the gateway. Engine-specific fields are the danger: llama.cpp's
/// `n_predict` outlives `max_tokens`, `id_slot`/`slot_id` pick the slot (and with it another tenant's cached prompt),
/// `cache_prompt` and `cache_salt` undo cache isolation, `chat_template`, `samplers`, `lora` and `grammar` change the
/// work and can make the engine fail with 500 on the client's mistake, `return_progress` and `timings_per_token`
/// ask for the cache counters that clients must not see.
enum EngineRequestFields {
    /// Names engines read as the answer's token limit. The gateway takes the largest the client sent as the
    /// effective maximum and forwards it as `max_tokens` alone, so no engine reads a limit the gateway did not count.
    static let tokenLimits = ["max_tokens", "max_completion_tokens", "n_predict", "max_new_tokens"]

    /// Fields both endpoints forward.
    static let common: Set<String> = [
        "model", "stream", "stream_options", "max_tokens", "temperature", "top_p", "n", "stop", "presence_penalty",
        "frequency_penalty", "logit_bias", "logprobs", "seed", "user",
        // Documented sampling extensions (vLLM, llama.cpp, SGLang): cost and placement stay the same.
        "top_k", "min_p", "repetition_penalty",
    ]

    static let chatCompletions: Set<String> = common.union([
        "messages", "top_logprobs", "response_format", "tools", "tool_choice", "parallel_tool_calls",
    ])

    static let completions: Set<String> = common.union(["prompt", "echo", "suffix"])

    static func allowed(for endpoint: CompletionRequest.Endpoint) -> Set<String> {
        switch endpoint {
        case .chatCompletions: chatCompletions
        case .completions: completions
        }
    }
}
