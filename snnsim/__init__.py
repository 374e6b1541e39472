"""snnsim."""
