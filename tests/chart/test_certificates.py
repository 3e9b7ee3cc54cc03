"""Webhook TLS: generated, reused on upgrade (real `lookup` against a stub API server),
user-supplied, and cert-manager."""

from __future__ import annotations

import base64
import datetime

import helm_python as helm
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from conftest import NAMESPACE, b64decode

SECRET = "aws-load-balancer-tls"
SERVICE = "aws-load-balancer-webhook-service"


def service_dns_names(namespace: str = NAMESPACE, domain: str = "cluster.local") -> set[str]:
    return {
        SERVICE,
        f"{SERVICE}.{namespace}",
        f"{SERVICE}.{namespace}.svc",
        f"{SERVICE}.{namespace}.svc.{domain}",
    }


def ca_bundles(rendered) -> list[str | None]:
    return [hook["clientConfig"].get("caBundle") for _, hook in rendered.webhooks()]


def load_cert(b64: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(b64decode(b64))


def sans(cert: x509.Certificate) -> set[str]:
    ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    return set(ext.value.get_values_for_type(x509.DNSName))


def assert_signed_by(cert: x509.Certificate, ca: x509.Certificate) -> None:
    assert cert.issuer == ca.subject
    public = ca.public_key()
    if isinstance(public, rsa.RSAPublicKey):
        public.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), cert.signature_hash_algorithm)
    else:
        public.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm))


def assert_consistent_tls(rendered, namespace: str = NAMESPACE, domain: str = "cluster.local") -> dict:
    """The Secret is a usable serving cert for the Service, and every webhook trusts its CA."""
    secret = rendered.tls_secret()
    assert secret["type"] == "kubernetes.io/tls"
    assert secret["metadata"]["namespace"] == namespace
    data = secret["data"]
    assert set(data) == {"ca.crt", "tls.crt", "tls.key"}
    bundles = ca_bundles(rendered)
    assert bundles and all(b == data["ca.crt"] for b in bundles)
    ca, cert = load_cert(data["ca.crt"]), load_cert(data["tls.crt"])
    assert_signed_by(cert, ca)
    assert service_dns_names(namespace, domain) <= sans(cert)
    key = serialization.load_pem_private_key(b64decode(data["tls.key"]), password=None)
    assert key.public_key().public_numbers() == cert.public_key().public_numbers()
    # The Deployment mounts this very Secret where the server reads its certificate.
    volumes = rendered.one("Deployment")["spec"]["template"]["spec"]["volumes"]
    assert {"name": "webhook-cert", "secret": {"secretName": secret["metadata"]["name"], "defaultMode": 0o440}} in volumes
    return data


# --- generated ------------------------------------------------------------------------------------


def test_generated_by_default(render):
    rendered = render()
    assert_consistent_tls(rendered)
    assert rendered.tls_secret()["metadata"]["annotations"]["elbv2.k8s.aws/webhook-tls-source"] == "generated"
    ca = load_cert(rendered.tls_secret()["data"]["ca.crt"])
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_generated_names_follow_namespace_and_dns_domain(render):
    rendered = render({"cluster": {"dnsDomain": "corp.internal"}}, namespace="lbc")
    assert_consistent_tls(rendered, namespace="lbc", domain="corp.internal")


def test_generated_validity_is_configurable(render):
    cert = load_cert(render({"webhookTLS": {"validityDays": 30}}).tls_secret()["data"]["tls.crt"])
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert datetime.timedelta(days=29) < lifetime <= datetime.timedelta(days=31)


def test_each_fresh_render_generates_a_new_ca(render):
    # Why reuse matters: without an existing Secret, every render is a new CA.
    first = render().tls_secret()["data"]["ca.crt"]
    second = render().tls_secret()["data"]["ca.crt"]
    assert first != second


# --- reused on upgrade ----------------------------------------------------------------------------


def installed_secret(render) -> dict:
    """The Secret as a first install would have created it."""
    secret = render().tls_secret()
    return {"apiVersion": "v1", "kind": "Secret", "type": secret["type"],
            "metadata": {"name": secret["metadata"]["name"], "namespace": NAMESPACE},
            "data": dict(secret["data"])}


def test_upgrade_reuses_the_existing_secret(render, api_server, lookup_config):
    existing = installed_secret(render)
    api_server.add_secret(existing)

    upgraded = render(config=lookup_config, is_upgrade=True)

    assert f"/api/v1/namespaces/{NAMESPACE}/secrets/{SECRET}" in api_server.requests
    assert upgraded.tls_secret()["data"] == existing["data"]
    assert set(ca_bundles(upgraded)) == {existing["data"]["ca.crt"]}
    assert upgraded.tls_secret()["metadata"]["annotations"]["elbv2.k8s.aws/webhook-tls-source"] == "existing"
    assert_consistent_tls(upgraded)


def test_reuse_survives_changed_values(render, api_server, lookup_config):
    existing = installed_secret(render)
    api_server.add_secret(existing)
    upgraded = render({"replicaCount": 3, "podMutatorWebhookConfig": {"enabled": True}},
                      config=lookup_config, is_upgrade=True)
    assert set(ca_bundles(upgraded)) == {existing["data"]["ca.crt"]}


def test_first_install_against_a_cluster_generates(render, api_server, lookup_config):
    rendered = render(config=lookup_config, is_upgrade=False)
    assert f"/api/v1/namespaces/{NAMESPACE}/secrets/{SECRET}" in api_server.requests
    assert rendered.tls_secret()["metadata"]["annotations"]["elbv2.k8s.aws/webhook-tls-source"] == "generated"
    assert_consistent_tls(rendered)


def test_keep_tls_secret_false_rotates(render, api_server, lookup_config):
    existing = installed_secret(render)
    api_server.add_secret(existing)
    rotated = render({"keepTLSSecret": False}, config=lookup_config, is_upgrade=True)
    assert rotated.tls_secret()["data"]["ca.crt"] != existing["data"]["ca.crt"]
    assert_consistent_tls(rotated)


def test_incomplete_existing_secret_is_replaced_not_half_reused(render, api_server, lookup_config):
    existing = installed_secret(render)
    del existing["data"]["ca.crt"]
    api_server.add_secret(existing)
    rendered = render(config=lookup_config, is_upgrade=True)
    assert rendered.tls_secret()["data"]["tls.crt"] != existing["data"]["tls.crt"]
    assert_consistent_tls(rendered)


def test_secret_of_another_namespace_is_not_reused(render, api_server, lookup_config):
    existing = installed_secret(render)
    existing["metadata"]["namespace"] = "elsewhere"
    api_server.add_secret(existing)
    rendered = render(config=lookup_config, is_upgrade=True)
    assert rendered.tls_secret()["data"]["ca.crt"] != existing["data"]["ca.crt"]


# --- user-supplied --------------------------------------------------------------------------------


def make_pki(dns_names: set[str]) -> tuple[str, str, str]:
    """A CA and a serving certificate for dns_names, as PEM strings (ca, cert, key)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test-ca")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, sorted(dns_names)[0])]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in sorted(dns_names)]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    key_pem = key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return ca.public_bytes(pem).decode(), cert.public_bytes(pem).decode(), key_pem.decode()


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_user_supplied_certificates(render):
    ca, cert, key = make_pki(service_dns_names())
    rendered = render({"webhookTLS": {"caCert": ca, "cert": cert, "key": key}})
    data = assert_consistent_tls(rendered)
    assert data == {"ca.crt": b64(ca), "tls.crt": b64(cert), "tls.key": b64(key)}
    assert rendered.tls_secret()["metadata"]["annotations"]["elbv2.k8s.aws/webhook-tls-source"] == "user"


def test_user_supplied_certificates_win_over_the_existing_secret(render, api_server, lookup_config):
    api_server.add_secret(installed_secret(render))
    ca, cert, key = make_pki(service_dns_names())
    rendered = render({"webhookTLS": {"caCert": ca, "cert": cert, "key": key}},
                      config=lookup_config, is_upgrade=True)
    assert set(ca_bundles(rendered)) == {b64(ca)}


def test_partial_user_certificates_are_refused(render):
    ca, cert, _ = make_pki(service_dns_names())
    with pytest.raises(helm.HelmRenderError) as failure:
        render({"webhookTLS": {"caCert": ca, "cert": cert}})
    assert "webhookTLS: set all three of caCert, cert and key" in str(failure.value)


# --- cert-manager ---------------------------------------------------------------------------------


def test_cert_manager_mode(render):
    rendered = render({"enableCertManager": True})
    assert rendered.all("Secret") == []
    assert ca_bundles(rendered) and all(b is None for b in ca_bundles(rendered))

    serving = rendered.one("Certificate", "aws-load-balancer-serving-cert")
    assert serving["metadata"]["namespace"] == NAMESPACE
    for kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
        annotations = rendered.one(kind)["metadata"]["annotations"]
        assert annotations["cert-manager.io/inject-ca-from"] == f"{NAMESPACE}/{serving['metadata']['name']}"

    spec = serving["spec"]
    assert spec["secretName"] == SECRET
    volumes = rendered.one("Deployment")["spec"]["template"]["spec"]["volumes"]
    assert volumes[0]["secret"]["secretName"] == spec["secretName"]
    assert service_dns_names() <= set(spec["dnsNames"])
    assert spec["duration"] == "8760h0m0s" and spec["renewBefore"] == "720h0m0s"

    # issuerRef -> CA Issuer -> root CA Certificate -> self-signed Issuer, all rendered.
    issuers = {i["metadata"]["name"]: i for i in rendered.all("Issuer")}
    ca_issuer = issuers[spec["issuerRef"]["name"]]
    assert spec["issuerRef"]["kind"] == "Issuer"
    root = next(c for c in rendered.all("Certificate") if c["spec"].get("secretName") == ca_issuer["spec"]["ca"]["secretName"])
    assert root["spec"]["isCA"] is True
    assert "selfSigned" in issuers[root["spec"]["issuerRef"]["name"]]["spec"]


def test_cert_manager_with_own_issuer(render):
    issuer = {"kind": "ClusterIssuer", "name": "corp-ca", "group": "cert-manager.io"}
    rendered = render({"enableCertManager": True, "certManager": {"issuerRef": issuer, "duration": "2160h"}})
    assert rendered.all("Issuer") == []
    (serving,) = rendered.all("Certificate")
    assert serving["spec"]["issuerRef"] == issuer
    assert serving["spec"]["duration"] == "2160h"


def test_cert_manager_does_not_look_up_or_generate(render, api_server, lookup_config):
    api_server.add_secret(installed_secret(render))
    rendered = render({"enableCertManager": True}, config=lookup_config, is_upgrade=True)
    assert not any("/secrets/" in path for path in api_server.requests)
    assert rendered.all("Secret") == []
    assert all(b is None for b in ca_bundles(rendered))
