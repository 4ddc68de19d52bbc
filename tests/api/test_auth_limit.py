"""The failed-authentication limiter on its own (a fake clock; no database): IPv6 clients counted per
/64, IPv4-mapped addresses as their IPv4 address, and memory bounded by a count, whatever the number
of addresses an attacker sends from."""

from __future__ import annotations

import tracemalloc

from api.auth_limit import FailedAuthLimiter


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_addresses_of_one_ipv6_64_share_one_count():
    limiter = FailedAuthLimiter(5, 60, clock=Clock())
    for i in range(1, 6):
        limiter.failed(f"2001:db8:1:2::{i:x}")
    assert limiter.retry_after("2001:db8:1:2:ffff:ffff:ffff:ffff") is not None
    assert limiter.retry_after("2001:db8:1:3::1") is None  # another /64 is another client


def test_ipv4_mapped_ipv6_is_its_ipv4_address():
    limiter = FailedAuthLimiter(3, 60, clock=Clock())
    for addr in ("192.0.2.9", "::ffff:192.0.2.9", "::ffff:c000:209"):
        limiter.failed(addr)
    assert limiter.retry_after("192.0.2.9") is not None


def test_the_block_lifts_after_the_window():
    clock = Clock()
    limiter = FailedAuthLimiter(2, 60, clock=clock)
    limiter.failed("192.0.2.1")
    limiter.failed("192.0.2.1")
    assert limiter.retry_after("192.0.2.1") == 60
    clock.t += 61
    assert limiter.retry_after("192.0.2.1") is None
    limiter.failed("192.0.2.1")
    assert limiter.retry_after("192.0.2.1") is None  # a new window: one failure so far


def test_memory_stays_bounded_for_as_many_addresses_as_it_tracks():
    limiter = FailedAuthLimiter(20, 60, clock=Clock())
    tracemalloc.start()
    try:
        for i in range(limiter.MAX_CLIENTS + 10_000):
            limiter.failed(f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}")
        held = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert len(limiter._failures) == limiter.MAX_CLIENTS
    assert held < 40 * 2**20, f"{held / 2**20:.0f} MiB for {limiter.MAX_CLIENTS} clients"


def test_a_client_that_is_no_address_is_counted_under_a_bounded_key():
    limiter = FailedAuthLimiter(2, 60, clock=Clock())
    limiter.failed("x" * 10_000 + "a")
    limiter.failed("x" * 10_000 + "b")
    assert limiter.retry_after("x" * 10_000) is not None
    assert max(len(k) for k in limiter._failures) <= 64
