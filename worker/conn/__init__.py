"""Connection-level features: the PROXY protocol on both sides of a stream."""
