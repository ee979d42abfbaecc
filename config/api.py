"""API plumbing the apps share: one page shape and its schema, and list endpoints whose query
parameters are a django-filter FilterSet.

It lives in config, beside the schema's error answers (config.openapi), rather than in an app:
customers, anomalies and notifications all use it, and none of them should import another
app's API module to page a list.
"""

from django_filters.rest_framework import DjangoFilterBackend
from django_filters.utils import translate_validation
from drf_spectacular.utils import OpenApiParameter, inline_serializer
from rest_framework import serializers
from rest_framework.pagination import PageNumberPagination
from rest_framework.views import APIView


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


class FilteredListApi(APIView):
    """A list endpoint whose query parameters are the FilterSet `filterset_class`.

    `filters(request)` binds and validates them: a bad value is a 400 naming its parameter.
    The view hands the valid FilterSet to its selector, which owns the query. The backend and
    the model below are only what drf-spectacular's django-filter integration reads to
    document the parameters; the view's `@extend_schema(filters=True)` asks for that (an
    APIView is not a list view to drf-spectacular).
    """

    filterset_class = None
    filter_backends = [DjangoFilterBackend]

    @property
    def queryset(self):
        return self.filterset_class._meta.model._default_manager.none()

    def filters(self, request):
        filters = self.filterset_class(request.query_params)
        if not filters.is_valid():
            raise translate_validation(filters.errors)
        return filters
