"""Generated protobuf and gRPC code for protos/ring/v1/ring.proto.

Do not edit: regenerate with `make protos` (scripts/gen_protos.py).
"""
