"""A real RFC 3161 time-stamping authority for the tests: certomancer's Animator (its WSGI app)
serving the PKI of ``tsa_pki.yml`` on a free local port, in a thread of the test process.

The keys are generated here, into a temporary directory (the configuration names the files);
the TSA's root certificate is written next to them as PEM, for the trust settings."""

from __future__ import annotations

import threading
from pathlib import Path

from certomancer.integrations.animator import Animator, AnimatorArchStore
from certomancer.registry import CertomancerConfig
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

CONFIG = Path(__file__).with_name("tsa_pki.yml")
ARCH = "test-tsa"


def _write_key(path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )


class LocalTsa:
    """The TSA at ``url``; ``root_pem`` is its trust anchor. ``close()`` stops it."""

    def __init__(self, directory: Path) -> None:
        keys = directory / "keys"
        keys.mkdir(parents=True, exist_ok=True)
        for name in ("root", "tsa"):
            _write_key(keys / f"{name}.key.pem")
        # Bind first: the certificates name the server's own URL (CRL distribution point).
        self._server: BaseWSGIServer = make_server("127.0.0.1", 0, _Lazy(), request_handler=_Quiet)
        self.base = f"http://127.0.0.1:{self._server.server_port}"
        config = CertomancerConfig.from_file(str(CONFIG), key_search_dir=str(directory), external_url_prefix=self.base)
        arch = config.get_pki_arch(ARCH)
        assert isinstance(self._server.app, _Lazy)
        self._server.app.app = Animator(AnimatorArchStore(config.pki_archs), with_web_ui=False)
        self.url = f"{self.base}/{ARCH}/tsa/tsa"
        root = arch.get_cert("root")
        self.root_pem = directory / "tsa-root.pem"
        self.root_pem.write_bytes(x509.load_der_x509_certificate(root.dump()).public_bytes(serialization.Encoding.PEM))
        self._thread = threading.Thread(target=self._server.serve_forever, name="local-tsa", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


class _Quiet(WSGIRequestHandler):
    """No access log lines in the test output."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return


class _Lazy:
    """The WSGI app the server is made with; the Animator is set once the URL is known."""

    app: object = None

    def __call__(self, environ: dict[str, object], start_response: object) -> object:
        assert callable(self.app)
        return self.app(environ, start_response)
