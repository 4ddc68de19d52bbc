"""What the API needs from the shell; api/ never reads the environment itself."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ApiConfig:
    database_url: str
    read_database_url: str | None = None  # a replica for reads; None: database_url
    timezone: str = "Asia/Shanghai"
    pool_min_size: int = 1
    pool_max_size: int = 10
    methodology_path: str | None = None  # for runs started over the API; None: the scorer's default
    max_body_bytes: int = 65_536  # any request body but a registry upload
    max_upload_bytes: int = 50 * 2**20  # a registry upload (all its files together)
    body_timeout_s: float = 20.0  # a body must arrive within this ...
    body_min_bytes_per_s: int = 500  # ... plus one second per this many bytes received (api.limits)
    auth_max_failures: int = 20  # failed authentications per client address within the window ...
    auth_failure_window_s: float = 60.0  # ... before its requests get 429 (api.auth_limit)
    job_worker: bool = True  # run queued scoring jobs in this process
    job_poll_s: float = 2.0  # how often the worker looks for jobs queued by other processes
