"""The request bodies of the model endpoints, for the OpenAPI document.

The endpoints take the raw request (they forward it as it is, or translate it), so FastAPI
cannot describe their bodies: these JSON schemas do. Each is a subset of the provider's
own: its main fields, with the provider's types and bounds; the fields left out are
allowed all the same (additional properties), and passed on. What the gateway itself
checks (messages, max_tokens, stream_options) it refuses in the caller's dialect.
"""


def obj(properties: dict, *required: str) -> dict:
    """A JSON object with these properties, `required` among them."""
    schema: dict = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    return schema


def array(items: dict, **bounds) -> dict:
    return {"type": "array", "items": items, **bounds}


def any_of(*schemas: dict) -> dict:
    return {"anyOf": list(schemas)}


def const(value: str) -> dict:
    return {"const": value}


def nullable(kind: str, **bounds) -> dict:
    return {"type": [kind, "null"], **bounds}


def request_body(schema: dict) -> dict:
    """`openapi_extra=` for a route that reads its JSON body itself."""
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


STRING = {"type": "string"}
MODEL = {**STRING, "description": "A model from GET /v1/models"}
# Both providers name tools like this (Anthropic allows up to 128 characters).
TOOL_NAME = {"type": "string", "pattern": "^[a-zA-Z0-9_-]{1,64}$"}

# -- OpenAI: POST /v1/chat/completions, POST /v1/embeddings ------------------------------

_OPENAI_CONTENT_PART = any_of(
    obj({"type": const("text"), "text": STRING}, "type", "text"),
    obj(
        {
            "type": const("image_url"),
            "image_url": obj({"url": STRING, "detail": {"enum": ["auto", "low", "high"]}}, "url"),
        },
        "type",
        "image_url",
    ),
)
_OPENAI_TOOL_CALL = obj(
    {
        "id": STRING,
        "type": const("function"),
        "function": obj({"name": STRING, "arguments": STRING}, "name", "arguments"),
    },
    "id",
    "type",
    "function",
)
_OPENAI_MESSAGE = any_of(
    obj(
        {
            "role": {"enum": ["system", "developer", "user"]},
            "content": any_of(STRING, array(_OPENAI_CONTENT_PART)),
            "name": STRING,
        },
        "role",
        "content",
    ),
    obj(
        {
            "role": const("assistant"),
            "content": nullable("string"),
            "tool_calls": array(_OPENAI_TOOL_CALL),
        },
        "role",
    ),
    obj(
        {"role": const("tool"), "content": STRING, "tool_call_id": STRING},
        "role",
        "content",
        "tool_call_id",
    ),
)
_OPENAI_TOOL = obj(
    {
        "type": const("function"),
        "function": obj(
            {"name": TOOL_NAME, "description": STRING, "parameters": {"type": "object"}}, "name"
        ),
    },
    "type",
    "function",
)
_OPENAI_TOOL_CHOICE = any_of(
    {"enum": ["none", "auto", "required"]},
    obj({"type": const("function"), "function": obj({"name": STRING}, "name")}, "type", "function"),
)

CHAT_COMPLETION = obj(
    {
        "model": MODEL,
        "messages": array(_OPENAI_MESSAGE, minItems=1),
        "max_tokens": nullable("integer", minimum=1),
        "max_completion_tokens": nullable("integer", minimum=1),
        "temperature": nullable("number", minimum=0, maximum=2),
        "top_p": nullable("number", minimum=0, maximum=1),
        "n": nullable("integer", minimum=1, maximum=128),
        "stop": any_of(STRING, array(STRING, maxItems=4)),
        "stream": nullable("boolean"),
        "stream_options": {
            **obj({"include_usage": {"type": "boolean"}}),
            "type": ["object", "null"],
        },
        "tools": array(_OPENAI_TOOL),
        "tool_choice": _OPENAI_TOOL_CHOICE,
        "user": STRING,
        "metadata": {"type": "object", "additionalProperties": STRING},
    },
    "model",
    "messages",
)

_TOKENS = array({"type": "integer"}, minItems=1)
EMBEDDINGS = obj(
    {
        "model": MODEL,
        "input": any_of(STRING, array(STRING, minItems=1), _TOKENS, array(_TOKENS, minItems=1)),
        "encoding_format": {"enum": ["float", "base64"]},
        "dimensions": {"type": "integer", "minimum": 1},
        "user": STRING,
    },
    "model",
    "input",
)

# -- Anthropic: POST /anthropic/v1/messages, POST /anthropic/v1/messages/count_tokens ----

_ANTHROPIC_TEXT = obj({"type": const("text"), "text": STRING}, "type", "text")
_ANTHROPIC_IMAGE_SOURCE = obj(
    {
        "type": const("base64"),
        "media_type": {"enum": ["image/jpeg", "image/png", "image/gif", "image/webp"]},
        "data": STRING,
    },
    "type",
    "media_type",
    "data",
)
_ANTHROPIC_BLOCK = any_of(
    _ANTHROPIC_TEXT,
    obj({"type": const("image"), "source": _ANTHROPIC_IMAGE_SOURCE}, "type", "source"),
    obj(
        {"type": const("tool_use"), "id": STRING, "name": TOOL_NAME, "input": {"type": "object"}},
        "type",
        "id",
        "name",
        "input",
    ),
    obj(
        {
            "type": const("tool_result"),
            "tool_use_id": STRING,
            "content": any_of(STRING, array(_ANTHROPIC_TEXT)),
            "is_error": {"type": "boolean"},
        },
        "type",
        "tool_use_id",
    ),
)
_ANTHROPIC_MESSAGE = obj(
    {"role": {"enum": ["user", "assistant"]}, "content": any_of(STRING, array(_ANTHROPIC_BLOCK))},
    "role",
    "content",
)
_ANTHROPIC_TOOL = obj(
    {
        "name": TOOL_NAME,
        "description": STRING,
        "input_schema": obj({"type": const("object")}, "type"),
    },
    "name",
    "input_schema",
)
_ANTHROPIC_PROMPT = {
    "model": MODEL,
    "messages": array(_ANTHROPIC_MESSAGE, minItems=1),
    "system": any_of(STRING, array(_ANTHROPIC_TEXT)),
    "tools": array(_ANTHROPIC_TOOL),
    "tool_choice": obj(
        {"type": {"enum": ["auto", "any", "tool", "none"]}, "name": TOOL_NAME}, "type"
    ),
}

MESSAGES = obj(
    {
        **_ANTHROPIC_PROMPT,
        "max_tokens": {"type": "integer", "minimum": 1},
        "stream": {"type": "boolean"},
        "temperature": {"type": "number", "minimum": 0, "maximum": 1},
        "top_p": {"type": "number", "minimum": 0, "maximum": 1},
        "top_k": {"type": "integer", "minimum": 0},
        "stop_sequences": array(STRING),
        "metadata": obj({"user_id": STRING}),
    },
    "model",
    "max_tokens",
    "messages",
)

COUNT_TOKENS = obj(_ANTHROPIC_PROMPT, "model", "messages")

# -- OpenAI: POST /v1/responses ------------------------------------------------------------

_RESPONSES_INPUT_TEXT = obj({"type": const("input_text"), "text": STRING}, "type", "text")
_RESPONSES_ITEM = any_of(
    obj(
        {
            "type": const("message"),
            "role": {"enum": ["user", "assistant", "system", "developer"]},
            "content": any_of(STRING, array(_RESPONSES_INPUT_TEXT)),
        },
        "role",
        "content",
    ),
    obj(
        {"type": const("function_call"), "call_id": STRING, "name": TOOL_NAME, "arguments": STRING},
        "type",
        "call_id",
        "name",
        "arguments",
    ),
    obj(
        {"type": const("function_call_output"), "call_id": STRING, "output": STRING},
        "type",
        "call_id",
        "output",
    ),  # fmt: skip
)
RESPONSE = obj(
    {
        "model": MODEL,
        "input": any_of(STRING, array(_RESPONSES_ITEM, minItems=1)),
        "instructions": STRING,
        "previous_response_id": STRING,
        "store": {"type": "boolean"},
        "stream": {"type": "boolean"},
        "max_output_tokens": {"type": "integer", "minimum": 1},
        "temperature": {"type": "number", "minimum": 0, "maximum": 2},
        "tools": array(
            obj(
                {"type": const("function"), "name": TOOL_NAME, "parameters": {"type": "object"}},
                "type",
                "name",
            )  # fmt: skip
        ),
        "tool_choice": any_of(
            {"enum": ["auto", "none", "required"]},
            obj({"type": const("function"), "name": TOOL_NAME}, "type", "name"),
        ),  # fmt: skip
    },
    "model",
    "input",
)
