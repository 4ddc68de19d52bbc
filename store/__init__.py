"""Storage: schema migrations, connections, registry and usage queries. Imports nothing of ours."""
