"""Service-shaped error responses: status, ``x-amzn-ErrorType`` and a JSON message, as botocore parses them."""

from __future__ import annotations

import uuid

from aiohttp import web


class ServiceError(Exception):
    def __init__(self, status: int, error_type: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message


def error_response(status: int, error_type: str, message: str) -> web.Response:
    return web.json_response(
        {"message": message},
        status=status,
        headers={"x-amzn-ErrorType": f"{error_type}:", "x-amzn-RequestId": str(uuid.uuid4())},
    )


def invalid(message: str) -> ServiceError:
    return ServiceError(400, "InvalidArgumentException", message)


def not_found(message: str = "The requested stream is not found or not active.") -> ServiceError:
    return ServiceError(404, "ResourceNotFoundException", message)
