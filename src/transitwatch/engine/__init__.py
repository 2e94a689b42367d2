"""How work is run: the choice of inputs, one process or many workers (Dask), behind the API."""
