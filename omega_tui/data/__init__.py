"""The data layer: reads and writes PostgreSQL and Redis. Never imports Textual."""
