"""A tiny NTP server on loopback for tests: answers client packets with a chosen clock offset.

    with NtpResponder(offset=4.2) as server:      # server == "127.0.0.1:<port>"
        check_ntp([server], limit=1.0, timeout=0.3)

`silent=True` swallows every query (a firewalled or dead server); `stratum=0` sends a
kiss-o'-death, `leap=3` an unsynchronized answer. Receive and transmit timestamps are this host's
clock plus `offset`, so a client on the same host measures exactly `offset` (+- scheduling noise).
"""

from __future__ import annotations

import socket
import struct
import threading
import time

_PACKET = struct.Struct("!B B b b 11I")  # RFC 5905 header without extensions: 48 bytes
_NTP_EPOCH_DELTA = 2208988800  # seconds from 1900-01-01 (NTP era 0) to 1970-01-01
_CLIENT_MODE = 3
_SERVER_MODE = 4


def _ntp_timestamp(unix_time: float) -> tuple[int, int]:
    ntp_time = unix_time + _NTP_EPOCH_DELTA
    seconds = int(ntp_time)
    return seconds & 0xFFFFFFFF, int((ntp_time - seconds) * 2**32) & 0xFFFFFFFF


class NtpResponder:
    def __init__(self, offset: float = 0.0, *, silent: bool = False, stratum: int = 2, leap: int = 0) -> None:
        self.offset = offset
        self.silent = silent
        self.stratum = stratum
        self.leap = leap
        self.queries = 0
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.settimeout(0.05)  # how quickly the thread notices stop()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="ntp-responder", daemon=True)

    @property
    def address(self) -> str:
        host, port = self._socket.getsockname()
        return f"{host}:{port}"

    def __enter__(self) -> str:
        self._thread.start()
        return self.address

    def __exit__(self, *exc_info: object) -> None:
        self._stopping.set()
        self._thread.join(timeout=2.0)
        self._socket.close()

    def _serve(self) -> None:
        while not self._stopping.is_set():
            try:
                packet, client = self._socket.recvfrom(512)
            except TimeoutError:
                continue
            except OSError:
                return
            received = time.time() + self.offset
            reply = self._answer(packet, received)
            if reply is not None:
                self._socket.sendto(reply, client)

    def _answer(self, packet: bytes, received: float) -> bytes | None:
        if len(packet) < _PACKET.size:
            return None
        fields = _PACKET.unpack_from(packet)
        version, mode = (fields[0] >> 3) & 0x7, fields[0] & 0x7
        if mode != _CLIENT_MODE or version not in (3, 4):
            return None
        self.queries += 1
        if self.silent:
            return None
        client_transmit = fields[-2:]  # echoed as our originate timestamp
        transmitted = time.time() + self.offset
        return _PACKET.pack(
            self.leap << 6 | version << 3 | _SERVER_MODE,
            self.stratum,
            fields[2],  # poll, echoed
            -20,  # precision: about a microsecond
            0,  # root delay
            0,  # root dispersion
            0x7F000001,  # reference id (loopback)
            *_ntp_timestamp(received),  # reference timestamp
            *client_transmit,  # originate timestamp
            *_ntp_timestamp(received),  # receive timestamp
            *_ntp_timestamp(transmitted),  # transmit timestamp
        )
