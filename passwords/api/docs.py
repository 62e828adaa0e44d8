"""Human pages for the API's problem types: each problem document's `type` URI resolves here."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from passwords.api.problems import TYPES


def problem_type(request: HttpRequest, code: str) -> HttpResponse:
    if code not in TYPES:
        raise Http404("No such problem type.")
    status, title, description = TYPES[code]
    context = {"code": code, "status": status, "title": title, "description": description}
    return render(request, "api/problem_type.html", context)
