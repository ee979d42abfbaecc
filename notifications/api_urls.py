from django.urls import path

from . import api

urlpatterns = [
    path("notifications", api.NotificationListApi.as_view(), name="api-notification-list"),
    path(
        "notifications/preferences",
        api.PreferencesApi.as_view(),
        name="api-notification-preferences",
    ),
]
