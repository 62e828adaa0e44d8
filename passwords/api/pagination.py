"""Page-number pagination: `?page=2&per_page=50` (at most 100 a page); a malformed `page` or
`per_page` is a 400 naming it, a page past the end a 404."""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request


class Pagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "per_page"
    max_page_size = 100

    def get_page_number(self, request: Request, paginator: Any) -> int:
        raw = request.query_params.getlist(self.page_query_param)
        if not raw:
            return 1
        if len(raw) > 1 or not raw[0].isdigit() or int(raw[0]) < 1:
            raise ParameterInvalid({"page": "page must be a whole number from 1."})
        return int(raw[0])

    def get_page_size(self, request: Request) -> int:
        raw = request.query_params.getlist(self.page_size_query_param)
        if not raw:
            return self.page_size
        if len(raw) > 1 or not raw[0].isdigit() or not 1 <= int(raw[0]) <= self.max_page_size:
            raise ParameterInvalid(
                {"per_page": f"per_page must be a whole number from 1 to {self.max_page_size}."}
            )
        return int(raw[0])

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters: list[dict[str, Any]] = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            parameter["schema"]["minimum"] = 1
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"]["maximum"] = self.max_page_size
        return parameters


class ParameterInvalid(exceptions.APIException):
    """A query parameter that breaks its documented shape: a 400 problem naming the parameter."""

    status_code = 400
    default_code = "invalid"

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(detail="; ".join(errors.values()))
        self.errors = errors
