"""Demo reconstructions (TOML scenarios written out as real MRT files) and synthetic workloads."""
