"""API plumbing the apps share: one page shape and its schema, and list endpoints whose query
parameters are a django-filter FilterSet.

It lives in config, beside the schema's error answers (config.openapi), rather than in an app:
customers, anomalies and notifications all use it, and none of them should import another
app's API module to page a list.
"""

from collections.abc import Mapping

from django.core.exceptions import ObjectDoesNotExist
from django_filters.rest_framework import DjangoFilterBackend
from django_filters.utils import translate_validation
from drf_spectacular.utils import OpenApiParameter, inline_serializer
from rest_framework import serializers
from rest_framework.fields import Field, SkipField
from rest_framework.pagination import PageNumberPagination
from rest_framework.relations import PKOnlyObject, RelatedField
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


# A Serializer's to_representation without DRF's per-row, per-field bookkeeping.
#
# DRF looks every field up again for each row (`_readable_fields`, `Field.get_attribute`
# and its exception handling): for a page of 50 anomalies of ~40 fields that was most of the
# list endpoints' Python time. This plans the fields once per serializer instance (once per
# page for `many=True`) and reads a plain one-attribute source with getattr. Anything the
# plan cannot prove plain (a dotted source, a callable value, a missing attribute, a related
# field with the pk-only shortcut, a dict row) goes through DRF's own path, so the output
# is the same, byte for byte (tests/anomalies/test_api_anomaly_representation.py pins it).
#
# No docstring on purpose: drf-spectacular would take it as the description of every
# serializer below without one of its own, and the schema must not change.
class FastReadMixin:
    def _fast_plan(self):
        plan = self.__dict__.get("_fast_plan_cache")
        if plan is None:
            plan = [
                (field.field_name, _plain_source(field), field)
                for field in self.fields.values()
                if not field.write_only
            ]
            self.__dict__["_fast_plan_cache"] = plan
        return plan

    def to_representation(self, instance):
        if isinstance(instance, Mapping):
            return super().to_representation(instance)
        ret = {}
        for name, source, field in self._fast_plan():
            if source is _NOT_PLAIN:
                try:
                    attribute = field.get_attribute(instance)
                except SkipField:
                    continue
                if isinstance(attribute, PKOnlyObject) and attribute.pk is None:
                    attribute = None
            elif source is None:  # source="*": the row itself
                attribute = instance
            else:
                try:
                    attribute = getattr(instance, source)
                except ObjectDoesNotExist:
                    attribute = None
                except (KeyError, AttributeError):
                    # DRF's answer: the default, None, a skipped field or its error.
                    try:
                        attribute = field.get_attribute(instance)
                    except SkipField:
                        continue
                else:
                    if callable(attribute):
                        attribute = field.get_attribute(instance)
            ret[name] = None if attribute is None else field.to_representation(attribute)
        return ret


_NOT_PLAIN = object()


def _plain_source(field):
    """The one attribute `field` reads from a row (None for "*"), or _NOT_PLAIN when DRF's
    get_attribute does more than getattr for it."""
    get_attribute = type(field).get_attribute
    plain = get_attribute is Field.get_attribute or (
        get_attribute is RelatedField.get_attribute and not field.use_pk_only_optimization()
    )
    if not plain or len(field.source_attrs) > 1:
        return _NOT_PLAIN
    return field.source_attrs[0] if field.source_attrs else None
