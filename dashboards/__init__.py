"""Grafana dashboards as code, their provisioning, the push to a Grafana, and a macro expander for tests."""
