"""API plumbing the apps share: one page shape and its schema.

It lives in config, beside the schema's error answers (config.openapi), rather than in an app:
customers, anomalies and notifications all use it, and none of them should import another
app's API module to page a list.
"""

from drf_spectacular.utils import OpenApiParameter, inline_serializer
from rest_framework import serializers
from rest_framework.pagination import PageNumberPagination


class Pagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


# Pagination's query parameters, for the @extend_schema of a view that pages its list.
PAGE_PARAMETERS = [OpenApiParameter("page", int), OpenApiParameter("page_size", int)]


def page_of(serializer_class, name: str):
    """The schema of one page of a paginated list (count, next, previous, results)."""
    return inline_serializer(
        name,
        {
            "count": serializers.IntegerField(),
            "next": serializers.URLField(allow_null=True),
            "previous": serializers.URLField(allow_null=True),
            "results": serializer_class(many=True),
        },
    )


def paginated_response(view, request, queryset, serializer_class):
    """The page of `queryset` the request asks for, in the shape page_of() documents."""
    paginator = Pagination()
    page = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response(serializer_class(page, many=True).data)
