"""A real OpenID Connect provider on loopback for the console's tests.

NAV's mock-oauth2-server (Maven Central, Java 17): discovery, JWKS, authorization code with
PKCE, signed ID tokens, and an interactive login form where the test types the subject and
the claims (e-mail, role) the token should carry.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from metaconnect_cli.local._proc import free_port, log_tail, spawn, stop, wait_for_port
from metaconnect_cli.local.kafka import maven_classpath

POM = Path(__file__).parent / "oidc" / "pom.xml"
MAIN = "no.nav.security.mock.oauth2.StandaloneMockOAuth2ServerKt"
ISSUER_ID = "metaconnect"


@dataclass
class OidcServer:
    workdir: Path
    port: int = field(default_factory=free_port)
    _proc: subprocess.Popen[bytes] | None = None

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}/{ISSUER_ID}"

    def start(self, timeout: float = 90.0) -> str:
        libs = maven_classpath(POM, "oidc")
        java = shutil.which("java") or "java"
        config = {"interactiveLogin": True, "httpServer": "NettyWrapper"}
        env = {"SERVER_PORT": str(self.port), "JSON_CONFIG": json.dumps(config)}
        log = self.workdir / "oidc.log"
        self._proc = spawn([java, "-Xmx256m", "-cp", f"{libs}/*", MAIN], log=log, env=env)
        try:
            wait_for_port(self.port, timeout=timeout, proc=self._proc)
            discovery = httpx.get(f"{self.issuer}/.well-known/openid-configuration", timeout=10)
            discovery.raise_for_status()
        except Exception:
            self.stop()
            raise RuntimeError(f"the OIDC provider did not start:\n{log_tail(log)}") from None
        return self.issuer

    def stop(self) -> None:
        stop(self._proc)
        self._proc = None
