"""The I/O shell of ring: gRPC, NTP, the asyncio driver."""
