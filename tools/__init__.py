"""Developer tools that drive the app in this repository (they need its app.py, so they run
from a checkout, not from an installed package): `python -m tools.bench_app` times the app's
script runs, `python -m tools.load_test` plays real browser sessions against it."""
