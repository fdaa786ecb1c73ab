"""Fleet sync: maps and ACLs shared by every node of a fleet through Redis (``global fleet-sync``)."""
