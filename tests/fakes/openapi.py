"""GitHub's published OpenAPI description (the vendored subset), as a request and response checker.

`Spec.match(method, path)` finds the operation a request is for; `Spec.check_request(...)` lists every way
a request fails to conform (path parameters, query parameters, JSON body); `Spec.check_response(...)` does
the same for what the fake answers, so the fake cannot drift from GitHub's real response shapes.

OpenAPI 3.0 schemas are turned into JSON Schema (draft 4, which 3.0's schema object is based on) once at
load time: `nullable: true` becomes a `null` alternative, and request bodies are made strict (unknown
properties are reported), because GitHub silently ignores unknown fields — a typo there would otherwise
pass every test and do nothing in production.
"""

from __future__ import annotations

import copy
import gzip
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

DATA_DIR = Path(__file__).resolve().parent.parent / "data" / "openapi"
BASE_URI = "urn:github-openapi"
METHODS = ("get", "put", "post", "patch", "delete", "head", "options")


@dataclass(frozen=True)
class Operation:
    method: str  # upper case
    template: str  # e.g. /repos/{owner}/{repo}/issues/{issue_number}
    operation_id: str
    pointer: str  # JSON pointer of the operation object inside the document
    regex: re.Pattern[str]
    literal_segments: int
    parameters: tuple[dict[str, Any], ...]
    body_pointer: str | None  # pointer of the application/json request body schema
    body_required: bool


@dataclass
class RequestCheck:
    operation: Operation | None
    path_params: dict[str, Any] = field(default_factory=dict)
    query: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    status: int = 200  # what GitHub would answer if there are problems


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _load_document() -> dict[str, Any]:
    for name in ("api.github.com.subset.json", "api.github.com.subset.json.gz"):
        path = DATA_DIR / name
        if path.exists():
            raw = gzip.decompress(path.read_bytes()) if name.endswith(".gz") else path.read_bytes()
            document: dict[str, Any] = json.loads(raw)
            return document
    raise FileNotFoundError(f"no OpenAPI subset in {DATA_DIR}; run scripts/vendor_testdata.py")


def _to_json_schema(node: Any) -> Any:
    """OpenAPI 3.0 schema object → JSON Schema draft 4 (recursively, on a copy)."""
    if isinstance(node, list):
        return [_to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _to_json_schema(value) for key, value in node.items()}
    if out.pop("nullable", None) is True:
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
            if "enum" in out and None not in out["enum"]:
                out["enum"] = [*out["enum"], None]
        else:
            rest = {k: v for k, v in out.items() if k not in ("description", "title")}
            out = {"anyOf": [rest, {"type": "null"}]}
    return out


def _strict(schema: Any, *, inside_all_of: bool = False) -> None:
    """Report unknown properties in inline request-body objects (not through `$ref`, not under allOf)."""
    if isinstance(schema, list):
        for item in schema:
            _strict(item, inside_all_of=inside_all_of)
        return
    if not isinstance(schema, dict) or "$ref" in schema:
        return
    if "properties" in schema and "additionalProperties" not in schema and not inside_all_of:
        schema["additionalProperties"] = False
    for key, value in schema.items():
        if key == "properties" and isinstance(value, dict):
            for sub in value.values():
                _strict(sub)
        elif key in ("items", "additionalProperties", "not"):
            _strict(value)
        elif key in ("anyOf", "oneOf"):
            _strict(value, inside_all_of=inside_all_of)
        elif key == "allOf":
            _strict(value, inside_all_of=True)


def _coerce(raw: str, schema: Mapping[str, Any]) -> Any:
    """A path or query string value as the JSON type its schema declares (left as is when it does not fit)."""
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind]
    if "integer" in kinds and re.fullmatch(r"-?\d+", raw):
        return int(raw)
    if "number" in kinds:
        try:
            return float(raw)
        except ValueError:
            return raw
    if "boolean" in kinds and raw in ("true", "false"):
        return raw == "true"
    if "array" in kinds:
        return [_coerce(part, schema.get("items", {})) for part in raw.split(",")]
    return raw


class Spec:
    """The vendored GitHub OpenAPI subset, ready to check requests and responses."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.raw = document
        self.document: dict[str, Any] = _to_json_schema(copy.deepcopy(document))
        self.operations: list[Operation] = []
        for template, item in self.document["paths"].items():
            shared = item.get("parameters", [])
            for method in METHODS:
                if method in item:
                    self.operations.append(self._operation(template, method, item[method], shared))
        # Most literal segments first, so /issues/comments/{id} wins over /issues/{issue_number}.
        self.operations.sort(key=lambda op: (-op.literal_segments, op.template))
        self._registry: Registry[Any] = Registry().with_resource(
            BASE_URI, Resource.from_contents(self.document, default_specification=DRAFT4)
        )
        self._validators: dict[str, jsonschema.protocols.Validator] = {}

    # -- lookup -------------------------------------------------------------------------------------------

    def resolve(self, node: Any) -> Any:
        while isinstance(node, dict) and "$ref" in node:
            node = self.pointer(node["$ref"][1:])
        return node

    def pointer(self, pointer: str) -> Any:
        node: Any = self.document
        for part in pointer.lstrip("/").split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    def _operation(self, template: str, method: str, op: dict[str, Any], shared: list[dict[str, Any]]) -> Operation:
        parameters = tuple(self.resolve(p) for p in [*shared, *op.get("parameters", [])])
        multi = {p["name"] for p in parameters if p.get("in") == "path" and p.get("x-multi-segment")}
        pattern = ""
        literal = 0
        for segment in template.strip("/").split("/"):
            found = re.fullmatch(r"\{([^}]+)\}", segment)
            if found:
                name = found.group(1)
                group = ".+" if name in multi else "[^/]+"
                pattern += f"/(?P<{re.sub(r'[^A-Za-z0-9_]', '_', name)}>{group})"
            else:
                literal += 1
                pattern += "/" + re.escape(segment)
        pointer = f"/paths/{_escape(template)}/{method}"
        body_pointer = None
        body_required = False
        body = self.resolve(op.get("requestBody"))
        if isinstance(body, dict) and "application/json" in body.get("content", {}):
            body_pointer = f"{pointer}/requestBody/content/application~1json/schema"
            if "$ref" in op["requestBody"]:
                raise ValueError(f"request body by reference is not supported ({template})")
            body_required = bool(body.get("required"))
            _strict(body["content"]["application/json"]["schema"])
        return Operation(
            method=method.upper(),
            template=template,
            operation_id=op["operationId"],
            pointer=pointer,
            regex=re.compile(pattern + "/?" if pattern else "/?"),
            literal_segments=literal,
            parameters=parameters,
            body_pointer=body_pointer,
            body_required=body_required,
        )

    def operation(self, operation_id: str) -> Operation:
        for op in self.operations:
            if op.operation_id == operation_id:
                return op
        raise KeyError(operation_id)

    def match(self, method: str, path: str) -> tuple[Operation | None, dict[str, str], list[str]]:
        """The operation for `method path`, its raw path parameters, and the methods the path allows."""
        allowed: list[str] = []
        for op in self.operations:
            found = op.regex.fullmatch(path)
            if not found:
                continue
            params = self._params_by_name(op, found)
            if self._path_problems(op, params):
                continue
            if op.method == method.upper():
                return op, params, []
            allowed.append(op.method)
        return None, {}, sorted(set(allowed))

    @staticmethod
    def _params_by_name(op: Operation, found: re.Match[str]) -> dict[str, str]:
        by_group = found.groupdict()
        out: dict[str, str] = {}
        for p in op.parameters:
            if p.get("in") == "path":
                out[p["name"]] = by_group[re.sub(r"[^A-Za-z0-9_]", "_", p["name"])]
        return out

    def _path_problems(self, op: Operation, params: Mapping[str, str]) -> list[str]:
        problems = []
        for p in op.parameters:
            if p.get("in") != "path":
                continue
            value = _coerce(params[p["name"]], p.get("schema", {}))
            for error in self._validator_for_schema(p.get("schema", {})).iter_errors(value):
                problems.append(f"path parameter {p['name']}={params[p['name']]!r}: {error.message}")
        return problems

    # -- validation ---------------------------------------------------------------------------------------

    def _validator_for_schema(self, schema: Any) -> jsonschema.protocols.Validator:
        return jsonschema.Draft4Validator(schema, registry=self._registry)

    def validator(self, pointer: str) -> jsonschema.protocols.Validator:
        if pointer not in self._validators:
            schema = {"$ref": f"{BASE_URI}#{pointer}"}
            self._validators[pointer] = jsonschema.Draft4Validator(schema, registry=self._registry)
        return self._validators[pointer]

    def schema_problems(self, pointer: str, instance: Any) -> list[str]:
        errors = sorted(self.validator(pointer).iter_errors(instance), key=lambda e: list(e.absolute_path))
        return [f"{'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}" for e in errors]

    def check_request(
        self, method: str, path: str, query: Mapping[str, list[str]], body: Any, *, has_body: bool
    ) -> RequestCheck:
        op, raw_params, allowed = self.match(method, path)
        if op is None:
            if allowed:
                return RequestCheck(
                    None,
                    problems=[f"{method} is not allowed on {path} (allowed: {', '.join(allowed)})"],
                    status=404,
                )
            return RequestCheck(None, problems=[f"no operation matches {method} {path}"], status=404)
        check = RequestCheck(op)
        for p in op.parameters:
            check.path_params.update(
                {p["name"]: _coerce(raw_params[p["name"]], p.get("schema", {}))} if p.get("in") == "path" else {}
            )
        declared = {p["name"]: p for p in op.parameters if p.get("in") == "query"}
        for name, values in query.items():
            param = declared.get(name)
            if param is None:
                check.problems.append(f"query parameter {name!r} is not declared for {op.operation_id}")
                continue
            if len(values) > 1:
                check.problems.append(f"query parameter {name!r} given {len(values)} times")
            value = _coerce(values[-1], param.get("schema", {}))
            for error in self._validator_for_schema(param.get("schema", {})).iter_errors(value):
                check.problems.append(f"query parameter {name}={values[-1]!r}: {error.message}")
            check.query[name] = value
        for name, param in declared.items():
            if param.get("required") and name not in query:
                check.problems.append(f"required query parameter {name!r} is missing")
        if op.body_pointer is None:
            if has_body and body not in (None, {}, b""):
                check.problems.append(f"{op.operation_id} takes no request body")
        elif not has_body:
            if op.body_required:
                check.problems.append(f"{op.operation_id} needs a JSON request body")
        else:
            check.problems.extend(f"body {p}" for p in self.schema_problems(op.body_pointer, body))
        if check.problems:
            check.status = 422
        return check

    def response_pointer(self, op: Operation, status: int) -> str | None:
        responses = self.pointer(op.pointer)["responses"]
        key = str(status)
        if key not in responses:
            return None
        pointer = f"{op.pointer}/responses/{key}"
        response = responses[key]
        while "$ref" in response:
            pointer = response["$ref"][1:]
            response = self.pointer(pointer)
        if "application/json" not in response.get("content", {}):
            return None
        return f"{pointer}/content/application~1json/schema"

    def check_response(self, op: Operation, status: int, body: Any) -> list[str]:
        responses = self.pointer(op.pointer)["responses"]
        if str(status) not in responses and status < 400:
            return [f"{op.operation_id} does not document status {status}"]
        pointer = self.response_pointer(op, status)
        if pointer is None:
            return []
        return self.schema_problems(pointer, body)

    def example(self, name: str) -> Any:
        """A copy of `components/examples/<name>`'s value (real responses from GitHub's documentation)."""
        return copy.deepcopy(self.raw["components"]["examples"][name]["value"])

    def iter_operations(self) -> Iterator[Operation]:
        yield from self.operations


@cache
def load_spec() -> Spec:
    return Spec(_load_document())
