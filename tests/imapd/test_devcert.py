"""The development certificate: a CA and a CA:FALSE server certificate it signs (DESIGN §6)."""

from __future__ import annotations

from cryptography import x509
from django.core.management import call_command

from imapd import devcert


def test_devcert_makes_a_ca_signed_leaf_for_localhost(tmp_path):
    made, created = devcert.ensure(tmp_path)
    assert created
    leaf = x509.load_pem_x509_certificate(made.cert.read_bytes())
    ca = x509.load_pem_x509_certificate(made.ca.read_bytes())
    assert leaf.issuer == ca.subject != leaf.subject
    assert leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert (made.key.stat().st_mode & 0o777) == 0o600
    leaf.verify_directly_issued_by(ca)  # raises if the CA did not sign it
    assert devcert.ensure(tmp_path) == (made, False)  # kept, not replaced


def test_devcert_command_says_where_the_ca_is(capsys, settings):
    call_command("devcert")
    out = capsys.readouterr().out
    assert "development certificate" in out and "ca.pem" in out
