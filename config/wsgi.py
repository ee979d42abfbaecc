import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

application = get_wsgi_application()

from config.startup import refuse_development_key_in_production  # noqa: E402  (needs settings)

refuse_development_key_in_production()
