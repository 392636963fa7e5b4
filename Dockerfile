FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 DJANGO_SETTINGS_MODULE=ivig_tracker.settings
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends curl && rm -rf /var/lib/apt/lists/*
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
RUN useradd --system --uid 1000 ivig && mkdir -p /app/var && chown -R ivig /app/var
USER ivig
# collectstatic needs settings; a throwaway key is enough for the build step only.
RUN SECRET_KEY=build-only-collectstatic python manage.py collectstatic --noinput
EXPOSE 8000
# Behind nginx (docker-compose.yml); the timeouts end a stuck request and bound a graceful stop.
CMD ["gunicorn", "ivig_tracker.wsgi:application", "--bind=0.0.0.0:8000", "--workers=3", "--timeout=30", "--graceful-timeout=30", "--keep-alive=5", "--limit-request-line=8190", "--limit-request-fields=100"]
