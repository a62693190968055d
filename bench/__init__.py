"""Load benchmarks and the data seeder (not run in CI)."""
