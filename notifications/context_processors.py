import functools

from .models import Notification


def unread_notifications(request):
    """The bell's unread count. A callable, cached: the template calls it only where the bell
    is drawn (not on admin pages), and one count query serves every use on the page."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}

    @functools.cache
    def count() -> int:
        return Notification.objects.filter(user=user, read_at__isnull=True).count()

    return {"unread_notification_count": count}
