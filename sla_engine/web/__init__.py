"""`sla-engine serve`: the dashboard live, read-only, over the store (Flask, served by waitress)."""
