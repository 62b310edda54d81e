"""Persistence: tables, migrations, the unit of work, history, the inbox projection and read queries."""
