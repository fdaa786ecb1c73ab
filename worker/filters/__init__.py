"""HTTP filters on the stream's data: the cache, compression, and the chain that runs them."""
