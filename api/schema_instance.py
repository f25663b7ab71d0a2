"""A JSON value that satisfies a JSON Schema: what the mock provider answers when a
request asks for structured output, or calls a tool with.

Deterministic and small, like the rest of the mock: each schema gets one fixed instance,
built from `const`, `enum`, `default` or `examples` when the schema gives one, else from
its type and bounds. Keywords that ask for more than a mock can honestly produce (a
`pattern`, `not`, conditionals, a `$ref` that does not resolve inside the schema) raise
Unsatisfiable, which the mock answers as a 400 naming the keyword, as a provider that
cannot compile a schema does.
"""

import copy

MAX_DEPTH = 32  # a recursive schema ($ref to itself) stops at an empty value
FORMATS = {
    "date-time": "2026-01-01T00:00:00Z",
    "date": "2026-01-01",
    "time": "00:00:00Z",
    "email": "mock@example.com",
    "uri": "https://example.com/mock",
    "url": "https://example.com/mock",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "hostname": "example.com",
    "ipv4": "192.0.2.1",
    "ipv6": "2001:db8::1",
}
UNSUPPORTED = ("pattern", "patternProperties", "not", "if", "dependentSchemas", "contains")


class Unsatisfiable(ValueError):
    """The schema asks for something this generator does not produce."""


def instance(schema, text: str = "mock", *, root=None, where: str = "$", depth: int = 0):
    """A value valid for `schema`; the first string it needs is `text`."""
    root = schema if root is None else root
    if schema is True or schema == {} or schema is None:
        return text
    if schema is False:
        raise Unsatisfiable(f"{where}: the schema false accepts nothing")
    if not isinstance(schema, dict):
        raise Unsatisfiable(f"{where}: not a schema")
    for keyword in UNSUPPORTED:
        if keyword in schema:
            raise Unsatisfiable(f"{where}: '{keyword}' is not supported by the mock provider")
    if "$ref" in schema:
        return instance(resolve(schema["$ref"], root, where), text, root=root, where=where,
                        depth=depth + 1)  # fmt: skip
    if depth > MAX_DEPTH:
        return None
    for keyword in ("const", "default"):
        if keyword in schema:
            return copy.deepcopy(schema[keyword])
    if schema.get("enum"):
        return copy.deepcopy(schema["enum"][0])
    if isinstance(schema.get("examples"), list) and schema["examples"]:
        return copy.deepcopy(schema["examples"][0])
    if "allOf" in schema:
        merged = {k: v for k, v in schema.items() if k != "allOf"}
        for part in schema["allOf"]:
            merged = merge(merged, resolve(part["$ref"], root, where) if "$ref" in part else part)
        return instance(merged, text, root=root, where=where, depth=depth + 1)
    for keyword in ("anyOf", "oneOf"):
        if schema.get(keyword):
            return instance(schema[keyword][0], text, root=root, where=f"{where}.{keyword}[0]",
                            depth=depth + 1)  # fmt: skip
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        kind = "object" if "properties" in schema else "array" if "items" in schema else "string"
    if kind == "object":
        return an_object(schema, text, root, where, depth)
    if kind == "array":
        items = schema.get("items", {})
        if isinstance(schema.get("prefixItems"), list):
            return [instance(s, text, root=root, where=f"{where}[{i}]", depth=depth + 1)
                    for i, s in enumerate(schema["prefixItems"])]  # fmt: skip
        count = max(1, int(schema.get("minItems", 1)))
        return [instance(items, text, root=root, where=f"{where}[]", depth=depth + 1)] * count
    if kind == "string":
        return a_string(schema, text)
    if kind in ("integer", "number"):
        return a_number(schema, kind, where)
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    raise Unsatisfiable(f"{where}: unknown type {kind!r}")


def an_object(schema: dict, text: str, root, where: str, depth: int) -> dict:
    properties = schema.get("properties") or {}
    required = schema.get("required") or []
    # Strict structured outputs require every property; otherwise the required ones, or
    # all of them when none is named (a tool's arguments are easier to read that way).
    names = list(properties) if not required else [n for n in properties if n in required]
    value = {}
    for name in names:
        value[name] = instance(properties[name], text, root=root, where=f"{where}.{name}",
                               depth=depth + 1)  # fmt: skip
        if isinstance(value[name], str):
            text = "mock"  # the caller's text fills the first string only
    for name in required:
        if name not in value:
            value[name] = text
    return value


def a_string(schema: dict, text: str) -> str:
    value = FORMATS.get(schema.get("format"), text)
    low, high = int(schema.get("minLength", 0)), schema.get("maxLength")
    if len(value) < low:
        value = value + "x" * (low - len(value))
    if high is not None:
        value = value[: int(high)]
    return value


def a_number(schema: dict, kind: str, where: str):
    low = schema.get("minimum", schema.get("exclusiveMinimum"))
    high = schema.get("maximum", schema.get("exclusiveMaximum"))
    value = 1 if low is None else low + (1 if "exclusiveMinimum" in schema else 0)
    if high is not None and value > high:
        value = high - (1 if "exclusiveMaximum" in schema else 0)
    if (low is not None and value < low) or (high is not None and value > high):
        raise Unsatisfiable(f"{where}: no {kind} between {low} and {high}")
    if kind == "integer":
        value = int(value)
    if (step := schema.get("multipleOf")) and value % step:
        value = step * max(1, int(value // step) + 1)
    return value


def resolve(ref: str, root, where: str):
    """A local reference (#/$defs/x, #/definitions/x, #): anything else is not ours."""
    if not isinstance(ref, str) or not ref.startswith("#"):
        raise Unsatisfiable(f"{where}: $ref {ref!r} is not inside the schema")
    node = root
    for part in filter(None, ref[1:].split("/")):
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or part not in node:
            raise Unsatisfiable(f"{where}: $ref {ref!r} does not resolve")
        node = node[part]
    return node


def merge(a: dict, b: dict) -> dict:
    merged = {**a, **{k: v for k, v in b.items() if k not in ("properties", "required")}}
    merged["properties"] = {**(a.get("properties") or {}), **(b.get("properties") or {})}
    merged["required"] = [*(a.get("required") or []), *(b.get("required") or [])]
    return merged
