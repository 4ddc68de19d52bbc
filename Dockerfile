# The jieneng image used by docker-compose.yml: migrate, ingest, api and broker-acl run it.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY jieneng ./jieneng
COPY ingest ./ingest
COPY scoring ./scoring
COPY api ./api
COPY dashboards ./dashboards
COPY store ./store
COPY sim ./sim
RUN pip install . \
    && useradd --system --uid 10001 --home-dir /app jieneng

USER jieneng
ENTRYPOINT ["jieneng"]
CMD ["--help"]
