"""The public API is small and deliberate: adding or removing a name is a decision, made here."""

import ring


def test_public_names_are_pinned() -> None:
    assert sorted(ring.__all__) == sorted([
        "ClockSkewError", "ClusterConfig", "ConfigError", "InstanceSpec", "ProtocolError",
        "ReplicationError", "ReplicationSettings", "RingError", "SessionBackend", "SessionError",
        "SessionMiddleware", "SessionTooLarge", "SessionUnavailable", "TransportError",
        "load_server_xml", "__version__",
    ])
    for name in ring.__all__:
        assert hasattr(ring, name), name


def test_errors_form_one_tree_with_exit_codes() -> None:
    assert issubclass(ring.ConfigError, ring.RingError) and ring.ConfigError.exit_code == 2
    assert issubclass(ring.ClockSkewError, ring.RingError) and ring.ClockSkewError.exit_code == 3
    for cls in (ring.SessionTooLarge, ring.SessionUnavailable):
        assert issubclass(cls, ring.SessionError)
