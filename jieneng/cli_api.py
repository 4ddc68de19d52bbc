"""`jieneng api`: serve the assessor HTTP API with uvicorn."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command("api")
    def api_cmd(
        host: str = typer.Option(None, help="Listen address (default: settings api_host)."),
        port: int = typer.Option(None, help="Listen port (default: settings api_port)."),
    ) -> None:
        """Serve the assessor API (/v1, OpenAPI at /docs, Prometheus at /metrics)."""
        import uvicorn

        from api.app import create_app
        from api.config import ApiConfig
        from jieneng.settings import load_settings
        from jieneng.wiring import check_schema, read_database_url, require_schema, setup_logging

        settings = load_settings()
        setup_logging(settings)
        url = require_schema(settings)
        read_url = read_database_url(settings)
        if read_url != url:
            check_schema(read_url)
        config = ApiConfig(
            database_url=url,
            read_database_url=read_url,
            timezone=settings.timezone,
            pool_min_size=settings.pool_min_size,
            pool_max_size=settings.pool_max_size,
            max_body_bytes=settings.api_max_body_bytes,
            max_upload_bytes=settings.api_max_upload_bytes,
            body_timeout_s=settings.api_body_timeout_s,
            body_min_bytes_per_s=settings.api_body_min_bytes_per_s,
            job_worker=settings.api_job_worker,
            auth_max_failures=settings.api_auth_max_failures,
            auth_failure_window_s=settings.api_auth_failure_window_s,
        )
        uvicorn.run(
            create_app(config),
            host=host or settings.api_host,
            port=port or settings.api_port,
            log_config=None,
            access_log=False,
        )
