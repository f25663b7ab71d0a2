"""aigw: an enterprise AI gateway whose application core is PostgreSQL."""
