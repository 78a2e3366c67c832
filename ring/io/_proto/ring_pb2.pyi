from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AckStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ACK_STATUS_UNSPECIFIED: _ClassVar[AckStatus]
    ACK_OK: _ClassVar[AckStatus]
    ACK_FENCED: _ClassVar[AckStatus]
    ACK_STALE: _ClassVar[AckStatus]
    ACK_REJECTED: _ClassVar[AckStatus]
    ACK_NOT_NOW: _ClassVar[AckStatus]

class ClaimStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CLAIM_STATUS_UNSPECIFIED: _ClassVar[ClaimStatus]
    CLAIM_GRANTED: _ClassVar[ClaimStatus]
    CLAIM_NOT_FOUND: _ClassVar[ClaimStatus]
    CLAIM_NOT_AUTHORITY: _ClassVar[ClaimStatus]
    CLAIM_BUSY: _ClassVar[ClaimStatus]
    CLAIM_FENCED: _ClassVar[ClaimStatus]
ACK_STATUS_UNSPECIFIED: AckStatus
ACK_OK: AckStatus
ACK_FENCED: AckStatus
ACK_STALE: AckStatus
ACK_REJECTED: AckStatus
ACK_NOT_NOW: AckStatus
CLAIM_STATUS_UNSPECIFIED: ClaimStatus
CLAIM_GRANTED: ClaimStatus
CLAIM_NOT_FOUND: ClaimStatus
CLAIM_NOT_AUTHORITY: ClaimStatus
CLAIM_BUSY: ClaimStatus
CLAIM_FENCED: ClaimStatus

class Header(_message.Message):
    __slots__ = ("sender", "incarnation", "epoch")
    SENDER_FIELD_NUMBER: _ClassVar[int]
    INCARNATION_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    sender: str
    incarnation: int
    epoch: int
    def __init__(self, sender: _Optional[str] = ..., incarnation: _Optional[int] = ..., epoch: _Optional[int] = ...) -> None: ...

class SessionRecord(_message.Message):
    __slots__ = ("session_id", "owner", "version", "last_access", "max_inactive", "deleted", "data")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    LAST_ACCESS_FIELD_NUMBER: _ClassVar[int]
    MAX_INACTIVE_FIELD_NUMBER: _ClassVar[int]
    DELETED_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    owner: str
    version: int
    last_access: float
    max_inactive: float
    deleted: bool
    data: bytes
    def __init__(self, session_id: _Optional[str] = ..., owner: _Optional[str] = ..., version: _Optional[int] = ..., last_access: _Optional[float] = ..., max_inactive: _Optional[float] = ..., deleted: _Optional[bool] = ..., data: _Optional[bytes] = ...) -> None: ...

class Batch(_message.Message):
    __slots__ = ("header", "seq", "records", "resync", "resync_done", "stream")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    RESYNC_FIELD_NUMBER: _ClassVar[int]
    RESYNC_DONE_FIELD_NUMBER: _ClassVar[int]
    STREAM_FIELD_NUMBER: _ClassVar[int]
    header: Header
    seq: int
    records: _containers.RepeatedCompositeFieldContainer[SessionRecord]
    resync: bool
    resync_done: bool
    stream: int
    def __init__(self, header: _Optional[_Union[Header, _Mapping]] = ..., seq: _Optional[int] = ..., records: _Optional[_Iterable[_Union[SessionRecord, _Mapping]]] = ..., resync: _Optional[bool] = ..., resync_done: _Optional[bool] = ..., stream: _Optional[int] = ...) -> None: ...

class BatchAck(_message.Message):
    __slots__ = ("header", "seq", "status", "reason", "stream", "known_incarnation", "refused")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    STREAM_FIELD_NUMBER: _ClassVar[int]
    KNOWN_INCARNATION_FIELD_NUMBER: _ClassVar[int]
    REFUSED_FIELD_NUMBER: _ClassVar[int]
    header: Header
    seq: int
    status: AckStatus
    reason: str
    stream: int
    known_incarnation: int
    refused: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, header: _Optional[_Union[Header, _Mapping]] = ..., seq: _Optional[int] = ..., status: _Optional[_Union[AckStatus, str]] = ..., reason: _Optional[str] = ..., stream: _Optional[int] = ..., known_incarnation: _Optional[int] = ..., refused: _Optional[_Iterable[str]] = ...) -> None: ...

class Ping(_message.Message):
    __slots__ = ("header", "nonce", "wall_time")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    NONCE_FIELD_NUMBER: _ClassVar[int]
    WALL_TIME_FIELD_NUMBER: _ClassVar[int]
    header: Header
    nonce: int
    wall_time: float
    def __init__(self, header: _Optional[_Union[Header, _Mapping]] = ..., nonce: _Optional[int] = ..., wall_time: _Optional[float] = ...) -> None: ...

class PingReply(_message.Message):
    __slots__ = ("header", "nonce", "wall_time", "you_are_dead", "known_incarnation")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    NONCE_FIELD_NUMBER: _ClassVar[int]
    WALL_TIME_FIELD_NUMBER: _ClassVar[int]
    YOU_ARE_DEAD_FIELD_NUMBER: _ClassVar[int]
    KNOWN_INCARNATION_FIELD_NUMBER: _ClassVar[int]
    header: Header
    nonce: int
    wall_time: float
    you_are_dead: bool
    known_incarnation: int
    def __init__(self, header: _Optional[_Union[Header, _Mapping]] = ..., nonce: _Optional[int] = ..., wall_time: _Optional[float] = ..., you_are_dead: _Optional[bool] = ..., known_incarnation: _Optional[int] = ...) -> None: ...

class IndirectPing(_message.Message):
    __slots__ = ("header", "target", "nonce")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    NONCE_FIELD_NUMBER: _ClassVar[int]
    header: Header
    target: str
    nonce: int
    def __init__(self, header: _Optional[_Union[Header, _Mapping]] = ..., target: _Optional[str] = ..., nonce: _Optional[int] = ...) -> None: ...

class IndirectPingReply(_message.Message):
    __slots__ = ("header", "target", "nonce", "reachable")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    NONCE_FIELD_NUMBER: _ClassVar[int]
    REACHABLE_FIELD_NUMBER: _ClassVar[int]
    header: Header
    target: str
    nonce: int
    reachable: bool
    def __init__(self, header: _Optional[_Union[Header, _Mapping]] = ..., target: _Optional[str] = ..., nonce: _Optional[int] = ..., reachable: _Optional[bool] = ...) -> None: ...

class Join(_message.Message):
    __slots__ = ("header", "wall_time")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    WALL_TIME_FIELD_NUMBER: _ClassVar[int]
    header: Header
    wall_time: float
    def __init__(self, header: _Optional[_Union[Header, _Mapping]] = ..., wall_time: _Optional[float] = ...) -> None: ...

class JoinReply(_message.Message):
    __slots__ = ("header", "wall_time", "accepted", "reason", "known_incarnation")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    WALL_TIME_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    KNOWN_INCARNATION_FIELD_NUMBER: _ClassVar[int]
    header: Header
    wall_time: float
    accepted: bool
    reason: str
    known_incarnation: int
    def __init__(self, header: _Optional[_Union[Header, _Mapping]] = ..., wall_time: _Optional[float] = ..., accepted: _Optional[bool] = ..., reason: _Optional[str] = ..., known_incarnation: _Optional[int] = ...) -> None: ...

class Claim(_message.Message):
    __slots__ = ("header", "session_id", "claim_id", "eager")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    CLAIM_ID_FIELD_NUMBER: _ClassVar[int]
    EAGER_FIELD_NUMBER: _ClassVar[int]
    header: Header
    session_id: str
    claim_id: int
    eager: bool
    def __init__(self, header: _Optional[_Union[Header, _Mapping]] = ..., session_id: _Optional[str] = ..., claim_id: _Optional[int] = ..., eager: _Optional[bool] = ...) -> None: ...

class ClaimReply(_message.Message):
    __slots__ = ("header", "session_id", "claim_id", "status", "record", "known_incarnation", "held_version", "held_owner")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    CLAIM_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    RECORD_FIELD_NUMBER: _ClassVar[int]
    KNOWN_INCARNATION_FIELD_NUMBER: _ClassVar[int]
    HELD_VERSION_FIELD_NUMBER: _ClassVar[int]
    HELD_OWNER_FIELD_NUMBER: _ClassVar[int]
    header: Header
    session_id: str
    claim_id: int
    status: ClaimStatus
    record: SessionRecord
    known_incarnation: int
    held_version: int
    held_owner: str
    def __init__(self, header: _Optional[_Union[Header, _Mapping]] = ..., session_id: _Optional[str] = ..., claim_id: _Optional[int] = ..., status: _Optional[_Union[ClaimStatus, str]] = ..., record: _Optional[_Union[SessionRecord, _Mapping]] = ..., known_incarnation: _Optional[int] = ..., held_version: _Optional[int] = ..., held_owner: _Optional[str] = ...) -> None: ...

class ClaimMany(_message.Message):
    __slots__ = ("claims",)
    CLAIMS_FIELD_NUMBER: _ClassVar[int]
    claims: _containers.RepeatedCompositeFieldContainer[Claim]
    def __init__(self, claims: _Optional[_Iterable[_Union[Claim, _Mapping]]] = ...) -> None: ...

class ClaimManyReply(_message.Message):
    __slots__ = ("replies",)
    REPLIES_FIELD_NUMBER: _ClassVar[int]
    replies: _containers.RepeatedCompositeFieldContainer[ClaimReply]
    def __init__(self, replies: _Optional[_Iterable[_Union[ClaimReply, _Mapping]]] = ...) -> None: ...

class Release(_message.Message):
    __slots__ = ("header", "session_id", "version")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    header: Header
    session_id: str
    version: int
    def __init__(self, header: _Optional[_Union[Header, _Mapping]] = ..., session_id: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class DropBackups(_message.Message):
    __slots__ = ("header", "stream")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    STREAM_FIELD_NUMBER: _ClassVar[int]
    header: Header
    stream: int
    def __init__(self, header: _Optional[_Union[Header, _Mapping]] = ..., stream: _Optional[int] = ...) -> None: ...

class Leave(_message.Message):
    __slots__ = ("header",)
    HEADER_FIELD_NUMBER: _ClassVar[int]
    header: Header
    def __init__(self, header: _Optional[_Union[Header, _Mapping]] = ...) -> None: ...

class Empty(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Done(_message.Message):
    __slots__ = ("header",)
    HEADER_FIELD_NUMBER: _ClassVar[int]
    header: Header
    def __init__(self, header: _Optional[_Union[Header, _Mapping]] = ...) -> None: ...

class StatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class PeerState(_message.Message):
    __slots__ = ("id", "state", "incarnation")
    ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    INCARNATION_FIELD_NUMBER: _ClassVar[int]
    id: str
    state: str
    incarnation: int
    def __init__(self, id: _Optional[str] = ..., state: _Optional[str] = ..., incarnation: _Optional[int] = ...) -> None: ...

class StatusReply(_message.Message):
    __slots__ = ("id", "address", "incarnation", "epoch", "successor", "primaries", "backups", "orphans", "resyncing", "peers", "unreplicated_writes", "host", "unredundant")
    class BackupsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    class OrphansEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    INCARNATION_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    SUCCESSOR_FIELD_NUMBER: _ClassVar[int]
    PRIMARIES_FIELD_NUMBER: _ClassVar[int]
    BACKUPS_FIELD_NUMBER: _ClassVar[int]
    ORPHANS_FIELD_NUMBER: _ClassVar[int]
    RESYNCING_FIELD_NUMBER: _ClassVar[int]
    PEERS_FIELD_NUMBER: _ClassVar[int]
    UNREPLICATED_WRITES_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    UNREDUNDANT_FIELD_NUMBER: _ClassVar[int]
    id: str
    address: str
    incarnation: int
    epoch: int
    successor: str
    primaries: int
    backups: _containers.ScalarMap[str, int]
    orphans: _containers.ScalarMap[str, int]
    resyncing: bool
    peers: _containers.RepeatedCompositeFieldContainer[PeerState]
    unreplicated_writes: int
    host: HostInfo
    unredundant: int
    def __init__(self, id: _Optional[str] = ..., address: _Optional[str] = ..., incarnation: _Optional[int] = ..., epoch: _Optional[int] = ..., successor: _Optional[str] = ..., primaries: _Optional[int] = ..., backups: _Optional[_Mapping[str, int]] = ..., orphans: _Optional[_Mapping[str, int]] = ..., resyncing: _Optional[bool] = ..., peers: _Optional[_Iterable[_Union[PeerState, _Mapping]]] = ..., unreplicated_writes: _Optional[int] = ..., host: _Optional[_Union[HostInfo, _Mapping]] = ..., unredundant: _Optional[int] = ...) -> None: ...

class HostInfo(_message.Message):
    __slots__ = ("version", "uptime_seconds", "http_address", "admin_address", "ready", "lease_valid", "pending_writes")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    UPTIME_SECONDS_FIELD_NUMBER: _ClassVar[int]
    HTTP_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    ADMIN_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    READY_FIELD_NUMBER: _ClassVar[int]
    LEASE_VALID_FIELD_NUMBER: _ClassVar[int]
    PENDING_WRITES_FIELD_NUMBER: _ClassVar[int]
    version: str
    uptime_seconds: float
    http_address: str
    admin_address: str
    ready: bool
    lease_valid: bool
    pending_writes: int
    def __init__(self, version: _Optional[str] = ..., uptime_seconds: _Optional[float] = ..., http_address: _Optional[str] = ..., admin_address: _Optional[str] = ..., ready: _Optional[bool] = ..., lease_valid: _Optional[bool] = ..., pending_writes: _Optional[int] = ...) -> None: ...
