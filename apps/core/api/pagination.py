"""Cursor pagination over a fixed, unique ordering, so pages never skip or repeat rows."""

from rest_framework import exceptions
from rest_framework.pagination import CursorPagination

INVALID_CURSOR = "The cursor is not valid; use the `next` or `previous` link of a page."


class ApiCursorPagination(CursorPagination):
    ordering = ("-created_at", "-id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def decode_cursor(self, request):
        if not request.query_params.get(self.cursor_query_param):
            return None  # an empty cursor is the first page
        try:
            return super().decode_cursor(request)
        except exceptions.NotFound as error:
            raise exceptions.ValidationError({"cursor": [INVALID_CURSOR]}) from error
