"""OpenAPI post-processing: the error answers every operation can give, documented once.

DRF answers 401 without credentials, 403 without permission, 404 for objects the caller may
not see, 400 with field errors for bad input and 429 when throttled, on every view; declaring
them per view would repeat the same five lines everywhere.
"""

ERROR_DETAIL = {
    "type": "object",
    "properties": {"detail": {"type": "string"}},
    "required": ["detail"],
}
# Field errors ({"field": ["message", ...]}) or a general {"detail": "..."}.
VALIDATION_ERRORS = {
    "type": "object",
    "additionalProperties": True,
    "description": "Field name to a list of messages, or 'detail' for the request as a whole.",
}
STANDARD_ERRORS = {
    "400": ("Invalid input", "ValidationErrors"),
    "401": ("No or invalid credentials", "ErrorDetail"),
    "403": ("Not allowed", "ErrorDetail"),
    "404": ("Not found, or not yours", "ErrorDetail"),
    "429": ("Throttled", "ErrorDetail"),
}


def add_error_responses(result, generator, request, public):
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault("ErrorDetail", ERROR_DETAIL)
    schemas.setdefault("ValidationErrors", VALIDATION_ERRORS)
    for path, operations in result.get("paths", {}).items():
        if not path.startswith("/api/"):
            continue
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for code, (description, schema) in STANDARD_ERRORS.items():
                responses.setdefault(
                    code,
                    {
                        "description": description,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": f"#/components/schemas/{schema}"}
                            }
                        },
                    },
                )
    return result
