"""Cursor pagination over a fixed, unique ordering, so pages never skip or repeat rows."""

from rest_framework import exceptions
from rest_framework.pagination import CursorPagination

INVALID_CURSOR = "The cursor is not valid; use the `next` or `previous` link of a page."
INVALID_PAGE_SIZE = "page_size must be a whole number from 1 (larger than {maximum} counts as {maximum})."


class ApiCursorPagination(CursorPagination):
    ordering = ("-created_at", "-id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def get_page_size(self, request):
        """The default without `page_size`; a value that is not a positive whole number is a 400, not ignored."""
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not (raw.isascii() and raw.isdigit()) or int(raw) < 1:
            raise exceptions.ValidationError({"page_size": [INVALID_PAGE_SIZE.format(maximum=self.max_page_size)]})
        return min(int(raw), self.max_page_size)

    def decode_cursor(self, request):
        if not request.query_params.get(self.cursor_query_param):
            return None  # an empty cursor is the first page
        try:
            return super().decode_cursor(request)
        except exceptions.NotFound as error:
            raise exceptions.ValidationError({"cursor": [INVALID_CURSOR]}) from error
