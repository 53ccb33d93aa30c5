"""Downloads described as files in the OpenAPI document.

Litestar describes a ``bytes`` response (the agreement PDF, the signing page's images, an
insurance proof) as ``{"type": "string"}``, which a generated client decodes as text and
corrupts. Marked ``format: binary``, generators (openapi-python-client, openapi-generator) hand
the caller the bytes as a file. Each file response also lists ``application/octet-stream``: the
media type every generator maps to bytes without configuration (openapi-python-client drops a
response it knows only as ``application/pdf`` or ``image/png``). The server still answers with
the precise type; the listed alternative only says "these are bytes"."""

from __future__ import annotations

from litestar.openapi.spec import OpenAPI, OpenAPIFormat, OpenAPIMediaType, OpenAPIType, Operation, Schema

#: Media types whose bodies are files, not text.
BINARY_PREFIXES = ("application/pdf", "image/", "application/octet-stream")
OCTET_STREAM = "application/octet-stream"


def describe_binary_downloads(document: OpenAPI) -> None:
    """Set ``format: binary`` on every file response of ``document``, in place."""
    for item in (document.paths or {}).values():
        for name in ("get", "post", "put", "patch", "delete"):
            operation: Operation | None = getattr(item, name, None)
            if operation is None:
                continue
            for response in (operation.responses or {}).values():
                contents = getattr(response, "content", None) or {}
                files = [media_type for media_type in contents if media_type.startswith(BINARY_PREFIXES)]
                for media_type in files:
                    contents[media_type].schema = Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY)
                if files and OCTET_STREAM not in contents:
                    contents[OCTET_STREAM] = OpenAPIMediaType(
                        schema=Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY)
                    )
