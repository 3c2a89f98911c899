"""Load and scale benchmarks: `make bench` and `make bench-scale`."""
