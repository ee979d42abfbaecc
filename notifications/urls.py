from django.urls import path

from . import views

urlpatterns = [
    path("notifications/", views.notification_list, name="notification-list"),
    path(
        "notifications/<int:notification_id>/open",
        views.notification_open,
        name="notification-open",
    ),
    path(
        "notifications/read-all",
        views.notification_mark_all_read,
        name="notification-mark-all-read",
    ),
    path(
        "notifications/preferences/",
        views.notification_preferences,
        name="notification-preferences",
    ),
]
