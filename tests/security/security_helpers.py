"""Helpers of the security tests: a server.xml with per-instance certificates, a test PKI, one
user's requests. (Its own module name: tests/integration's helpers are not importable from here.)"""

from __future__ import annotations

import http.client
import json
import subprocess
from pathlib import Path

from ring.drill.cluster import free_port

FAST = {"ping-interval": "0.25", "failure-timeout": "1", "request-timeout": "5"}
DEADLINE = 20.0  # seconds any single condition may take


def make_pki(directory: Path, names: tuple[str, ...]) -> None:
    """ca.pem, and NAME.pem/NAME.key for each name (CN NAME, DNS names NAME and NAME.ring.test, IP
    127.0.0.1), EC keys."""
    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True, timeout=30)

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=ring test CA")
    for name in names:
        openssl("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}")
        (directory / f"{name}.ext").write_text(f"subjectAltName=DNS:{name},DNS:{name}.ring.test,IP:127.0.0.1\n")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext")


def write_config(directory: Path, ids: tuple[str, ...], *, own_certificates: bool = False,
                 certificate_names: dict[str, str] | None = None, **settings: str) -> Path:
    """A server.xml for a ring of `ids` on 127.0.0.1; `own_certificates`: each instance uses
    ID.pem/ID.key; `certificate_names`: id -> its <certificate-name>; `settings` are
    <session-replication> elements (underscores become dashes)."""
    def instance(i: str) -> str:
        files = f"<tls-cert-file>{i}.pem</tls-cert-file><tls-key-file>{i}.key</tls-key-file>" if own_certificates else ""
        if i in (certificate_names or {}):
            files += f"<certificate-name>{(certificate_names or {})[i]}</certificate-name>"
        return f"""
    <instance>
      <host>127.0.0.1</host>
      <session-replication><port>{free_port()}</port><instance-id>{i}</instance-id>{files}</session-replication>
    </instance>"""

    merged = {**FAST, **{k.replace("_", "-"): v for k, v in settings.items()}}
    elements = "".join(f"\n      <{k}>{v}</{k}>" for k, v in merged.items())
    path = directory / "server.xml"
    path.write_text(f"""<?xml version="1.0" encoding="UTF-8"?>
<server>
  <cluster>{"".join(instance(i) for i in ids)}
    <session-replication>{elements}
    </session-replication>
  </cluster>
</server>
""")
    return path


class User:
    """One browser: its cookies, and the demo app's counter."""

    def __init__(self) -> None:
        self.cookies: dict[str, str] = {}

    def incr(self, base_url: str, timeout: float = 15.0) -> int:
        conn = http.client.HTTPConnection(base_url.removeprefix("http://"), timeout=timeout)
        headers = {"Content-Length": "0"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        try:
            conn.request("POST", "/incr", body=b"", headers=headers)
            response = conn.getresponse()
            body = response.read()
            assert response.status == 200, (response.status, body)
            for header in response.msg.get_all("Set-Cookie") or []:
                name, _, value = header.split(";")[0].strip().partition("=")
                self.cookies[name] = value
        finally:
            conn.close()
        return int(json.loads(body)["count"])


def assert_no_tracebacks(logs: list[Path]) -> None:
    for path in logs:
        if path.exists():
            text = path.read_text()
            assert "Traceback" not in text, f"traceback in {path}:\n{text[text.index('Traceback') - 300:][:3000]}"
