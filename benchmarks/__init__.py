"""Load scripts that print figures (README "Benchmarks"); not part of ``make test``."""
