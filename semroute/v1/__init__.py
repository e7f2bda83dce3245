"""Generated gRPC code for ``proto/semroute/v1`` (``make proto`` regenerates it; do not edit by hand)."""
