"""Webhooks to a city intranet's HTTPS endpoint, signed by its own certificate authority
(`RISKLOOP_WEBHOOK_CA_FILE`), and production's refusal to post case data over plain http.

A real CA and server certificate are made here with `cryptography`; the receiver answers over
TLS on loopback. Before the setting existed the delivery client trusted certifi's bundle alone
(and ignores SSL_CERT_FILE), so such an endpoint could never be reached.
"""

from __future__ import annotations

import ipaddress
import ssl
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from models.settings import Settings, get_settings
from serving.delivery import Deliverer
from serving.store import WarningStore
from serving.store.outbox import Outbox
from tests.serving.loop.receiver import Receiver
from tests.serving.loop.test_delivery import SECRET, _hook, _raise, _settings
from training.cli import app


def _name(common: str):  # type: ignore[no-untyped-def]
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _certificate(subject: str, issuer: str, public_key, signing_key, *, ca: bool):  # type: ignore[no-untyped-def]
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    else:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
    return builder.sign(signing_key, hashes.SHA256())


@pytest.fixture(scope="module")
def city_ca(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ssl.SSLContext]:
    """A private CA's PEM file, and a server context whose certificate (for 127.0.0.1) it
    signed."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    folder = tmp_path_factory.mktemp("city-ca")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _certificate("City Intranet CA", "City Intranet CA", ca_key.public_key(), ca_key, ca=True)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = _certificate(
        "127.0.0.1", "City Intranet CA", server_key.public_key(), ca_key, ca=False
    )
    pem = serialization.Encoding.PEM
    (folder / "ca.pem").write_bytes(ca.public_bytes(pem))
    (folder / "server.pem").write_bytes(server.public_bytes(pem))
    (folder / "server.key").write_bytes(
        server_key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "server.pem", folder / "server.key")
    return folder / "ca.pem", context


@pytest.fixture()
def store(tmp_path: Path) -> Iterator[WarningStore]:
    with WarningStore(f"sqlite:///{tmp_path / 'store.db'}", "pseudonym-secret") as opened:
        yield opened


def _deliver_once(store: WarningStore, settings: Settings) -> None:
    deliverer = Deliverer(store, settings)
    try:
        deliverer.run_once()
    finally:
        deliverer.close()


def test_an_endpoint_signed_by_the_citys_ca_is_reached_with_the_ca_file(
    store: WarningStore, tmp_path: Path, city_ca: tuple[Path, ssl.SSLContext]
) -> None:
    ca_file, server_tls = city_ca
    with Receiver(SECRET, tls=server_tls) as receiver:
        assert receiver.url.startswith("https://127.0.0.1:")
        without = _settings(tmp_path, notify_max_attempts=9)
        _hook(store, without, receiver.url, "county_centre")
        _raise(store, ["employer-tls"])
        _deliver_once(store, without)  # certifi alone does not know the city's CA
        (event,) = Outbox(store).events()
        assert event["attempts"] == 1 and "CERTIFICATE_VERIFY_FAILED" in event["last_error"]
        assert receiver.log == []

        with_ca = _settings(tmp_path, notify_max_attempts=9, webhook_ca_file=ca_file)
        Outbox(store).postpone([event["event_id"]], until=datetime.now(UTC))  # due now
        _deliver_once(store, with_ca)
        assert Outbox(store).counts()["delivered"] == 1
        assert [d.verified for d in receiver.log] == [True]


def _run(args: list[str]) -> Result:
    get_settings.cache_clear()
    return CliRunner().invoke(app, args)


@pytest.fixture()
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("RISKLOOP_STORE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("RISKLOOP_KEYS_FILE", str(tmp_path / "keys.json"))
    monkeypatch.setenv("RISKLOOP_WEBHOOK_SECRETS_FILE", str(tmp_path / "secrets.json"))
    monkeypatch.setenv("RISKLOOP_PUBLIC_URL", "https://riskloop.example.gov")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_departments_ping_uses_the_ca_file_and_a_bad_one_is_one_line_at_start(
    cli_env: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    city_ca: tuple[Path, ssl.SSLContext],
) -> None:
    ca_file, server_tls = city_ca
    with Receiver(SECRET, tls=server_tls) as receiver, WarningStore.from_settings() as store:
        _hook(store, get_settings(), receiver.url, "county_centre")
        refused = _run(["departments", "ping", "county_centre"])
        assert refused.exit_code == 2 and "CERTIFICATE_VERIFY_FAILED" in refused.stderr
        monkeypatch.setenv("RISKLOOP_WEBHOOK_CA_FILE", str(ca_file))
        ping = _run(["departments", "ping", "county_centre"])
        assert ping.exit_code == 0, ping.output
        assert "answered HTTP 200" in ping.stdout
        assert [d.body["type"] for d in receiver.log if d.body] == ["ping"]

    not_a_bundle = tmp_path / "notes.txt"
    not_a_bundle.write_text("not a certificate\n")
    for path, reason in (
        (tmp_path / "missing.pem", "no file"),
        (not_a_bundle, "holds no PEM certificate"),
        (tmp_path, "Is a directory"),
    ):
        monkeypatch.setenv("RISKLOOP_WEBHOOK_CA_FILE", str(path))
        for args in (["notify", "--once"], ["departments", "ping", "county_centre"]):
            result = _run(args)
            assert result.exit_code == 2, result.output
            (line,) = result.stderr.strip().splitlines()
            assert line.startswith("error: invalid setting RISKLOOP_WEBHOOK_CA_FILE"), line
            assert reason in line and str(path) in line, line


def test_in_production_an_http_endpoint_is_never_posted_to_and_the_event_is_kept(
    store: WarningStore, tmp_path: Path
) -> None:
    """A plain http:// URL set outside production stays in the store; a production process
    does not post case data to it: the event fails with the reason, is dead-lettered after the
    attempts, and is still there to requeue once an https:// URL is set."""
    with Receiver(SECRET) as receiver:
        development = _settings(tmp_path)
        _hook(store, development, receiver.url, "county_centre")
        _raise(store, ["employer-plain-http"])
        production = _settings(tmp_path, env="production", notify_max_attempts=2)
        for _ in range(10):
            _deliver_once(store, production)
            if Outbox(store).counts()["dead"]:
                break
        assert receiver.log == []
        (dead,) = Outbox(store).dead()
        assert dead["attempts"] == 2
        assert "RISKLOOP_ENV=production sends notifications to https://" in dead["last_error"]

        deliverer = Deliverer(store, production)
        try:
            from serving.delivery import EndpointRefused

            with pytest.raises(EndpointRefused, match="https:// webhook URLs only"):
                deliverer.ping("county_centre", receiver.url)
        finally:
            deliverer.close()
        assert receiver.log == []

        assert Outbox(store).requeue([dead["event_id"]], now=datetime.now(UTC)) == 1
        _deliver_once(store, development)  # outside production the same URL is posted to
        assert len(receiver.unique()) == 1
