"""Where the file of a `POST sis_imports` comes from, as Canvas's controller decides (§1.2).

- `multipart/form-data`: the `attachment` part is the file; form fields join the query
  string as parameters (body wins).  No `attachment` part → 400 `Missing attachment`.
- anything else: the raw body is the file, named `sis_import.<extension>`; the extension is
  the `extension` parameter, else derived from the Content-Type (after refusing a charset
  other than UTF-8), else `zip`.
"""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass

from gateway.sandbox.multipart import MultipartError, parse_content_type, parse_multipart
from gateway.sandbox.records import UploadedFile
from gateway.sandbox.wire import Params, Request, Response, json_response

UNKNOWN_TYPE = "unknown/unknown"  # Canvas's content type when nothing better is known

_EXTENSION_BY_MEDIA_TYPE = {
    "application/zip": "zip",
    "text/xml": "xml",
    "text/plain": "csv",
    "text/csv": "csv",
}

MISSING_ATTACHMENT_BODY = {"error": True, "error_message": "Missing attachment"}
NOT_UTF8_BODY = {"error": "Invalid content type, UTF-8 required"}


class AttachmentNotAFileError(ValueError):
    """`attachment` was sent as a plain form field; Canvas fails with a server error."""


@dataclass(frozen=True)
class Upload:
    """The file of one POST and every parameter that came with it."""

    file: UploadedFile
    params: Params


def read_upload(request: Request) -> Upload | Response:
    """Return the upload, or the 400 Canvas answers.  Raises AttachmentNotAFileError."""
    media_type, type_params = parse_content_type(request.header("content-type"))
    if media_type == "multipart/form-data":
        return _from_multipart(request, type_params.get("boundary", ""))
    return _from_raw_body(request, media_type, type_params)


def _from_multipart(request: Request, boundary: str) -> Upload | Response:
    try:
        parts = parse_multipart(request.body, boundary)
    except MultipartError as error:
        # Rails answers a body it cannot parse with 400 before the controller runs.
        return json_response(400, {"errors": [{"message": f"Invalid multipart body: {error}"}]})
    fields = Params(
        tuple((p.name, p.data.decode("utf-8", "replace")) for p in parts if p.filename is None)
    )
    attachment = next((p for p in parts if p.name == "attachment"), None)
    if attachment is None:
        return json_response(400, MISSING_ATTACHMENT_BODY)
    if attachment.filename is None:
        raise AttachmentNotAFileError("attachment is not a file part")
    content_type = attachment.content_type or _guess_type(attachment.filename)
    media_type, _ = parse_content_type(content_type)
    upload = UploadedFile(attachment.filename, media_type or UNKNOWN_TYPE, attachment.data)
    return Upload(upload, fields.without(["attachment"]).merged_over(request.query))


def _from_raw_body(
    request: Request, media_type: str | None, type_params: dict[str, str]
) -> Upload | Response:
    extension = request.query.get("extension")
    if extension is not None:
        filename = f"sis_import.{extension}"
        return Upload(UploadedFile(filename, _guess_type(filename), request.body), request.query)
    charset = type_params.get("charset")
    if charset and charset.lower() != "utf-8":
        return json_response(400, NOT_UTF8_BODY)
    extension = _EXTENSION_BY_MEDIA_TYPE.get(media_type or "", "zip")
    upload = UploadedFile(f"sis_import.{extension}", media_type or UNKNOWN_TYPE, request.body)
    return Upload(upload, request.query)


def _guess_type(filename: str) -> str:
    guessed, _ = mimetypes.guess_type(filename, strict=False)
    return guessed or UNKNOWN_TYPE
