# The production image: one image for web (gunicorn), the Celery worker and beat.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

# The run lock first (pinned, hash-checked; its layer is cached until the lock changes),
# then the project without resolving anything more.
COPY requirements/run.txt ./requirements/run.txt
RUN pip install -r requirements/run.txt
COPY pyproject.toml README.md ./
COPY accounts ./accounts
COPY config ./config
COPY customers ./customers
COPY anomalies ./anomalies
COPY notifications ./notifications
RUN pip install --no-deps .

COPY . .
# collectstatic needs settings but no secrets or database.
RUN DEBUG=false SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput

RUN useradd --system --uid 10001 tremor
USER tremor
EXPOSE 8000
CMD ["gunicorn", "config.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
