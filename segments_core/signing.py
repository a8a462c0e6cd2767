"""Ed25519 signatures of ``MANIFEST.sha256``: who may put a model where the service loads it.

The manifest lists the sha256 of ``metadata.json`` and of every artifact, so one signature
over its exact bytes (``MANIFEST.sha256.sig``, the raw 64-byte Ed25519 signature) covers
the whole model version. Training signs with a private key (``python -m training keygen``
writes a pair); the service, given the public key, checks the signature before it reads
the metadata or unpickles anything. By hand::

    openssl pkeyutl -verify -pubin -inkey signing.pub.pem -rawin \\
        -in MANIFEST.sha256 -sigfile MANIFEST.sha256.sig
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from shopper_segments.core.errors import ArtifactError
from shopper_segments.core.manifest import MANIFEST, confined

SIGNATURE = MANIFEST + ".sig"
PRIVATE_KEY = "signing.pem"
PUBLIC_KEY = "signing.pub.pem"
_PEM_BLOCK = re.compile(rb"-----BEGIN PUBLIC KEY-----.*?-----END PUBLIC KEY-----", re.DOTALL)

__all__ = [
    "PRIVATE_KEY",
    "PUBLIC_KEY",
    "SIGNATURE",
    "generate_keypair",
    "load_private_key",
    "load_public_keys",
    "sign_manifest",
    "verify_manifest_signature",
]


def generate_keypair(out_dir: Path) -> tuple[Path, Path]:
    """Write a new Ed25519 key pair into ``out_dir`` (created if need be).

    Returns
    -------
    private, public : Path
        ``signing.pem`` (PKCS#8 PEM, mode 0600) and ``signing.pub.pem`` (PEM, mode 0644).

    Raises
    ------
    ArtifactError
        Either file exists already (a key is never overwritten) or can't be written.
    """
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = out_dir / PRIVATE_KEY, out_dir / PUBLIC_KEY
    for path in paths:
        if path.exists() or path.is_symlink():
            raise ArtifactError(f"{path} exists; refusing to overwrite a key")
    for path, data, mode in ((paths[0], private, 0o600), (paths[1], public, 0o644)):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)  # whatever the umask
            handle.write(data)
    return paths


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """The Ed25519 private key of a PEM file (unencrypted PKCS#8, as ``keygen`` writes it)."""
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise ArtifactError(f"signing key {path} cannot be read: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ArtifactError(f"signing key {path} is not an Ed25519 private key")
    return key


def load_public_keys(path: Path) -> list[Ed25519PublicKey]:
    """The Ed25519 public keys of a PEM file: one, or several concatenated (key rotation)."""
    try:
        blocks = _PEM_BLOCK.findall(path.read_bytes())
        keys = [serialization.load_pem_public_key(block) for block in blocks]
    except (OSError, ValueError, TypeError) as exc:
        raise ArtifactError(f"public key {path} cannot be read: {exc}") from exc
    if not keys:
        raise ArtifactError(f"public key {path} holds no PEM public key")
    if not all(isinstance(k, Ed25519PublicKey) for k in keys):
        raise ArtifactError(f"public key {path}: every key must be an Ed25519 public key")
    return [k for k in keys if isinstance(k, Ed25519PublicKey)]


def sign_manifest(model_dir: Path, key: Ed25519PrivateKey) -> Path:
    """Write ``MANIFEST.sha256.sig``: the signature over the exact bytes of ``MANIFEST.sha256``."""
    path = model_dir / SIGNATURE
    path.write_bytes(key.sign((model_dir / MANIFEST).read_bytes()))
    return path


def verify_manifest_signature(model_dir: Path, keys: list[Ed25519PublicKey]) -> bytes:
    """The manifest's bytes, read once, refused unless one of ``keys`` signed them.

    Callers parse the returned bytes rather than re-reading the file, so what was
    verified is what is used.

    Raises
    ------
    ArtifactError
        No signature, a malformed one, or one that no key verifies (the manifest was
        changed after signing, or another key signed it).
    """
    sig_path = confined(model_dir, SIGNATURE)
    if not sig_path.is_file():
        raise ArtifactError(
            f"{model_dir}: unsigned model (no {SIGNATURE}) and a public key is configured; "
            "refusing to load it"
        )
    manifest_path = confined(model_dir, MANIFEST)
    if not manifest_path.is_file():
        raise ArtifactError(f"{model_dir}: missing {MANIFEST}; refusing to load the model")
    signature, manifest = sig_path.read_bytes(), manifest_path.read_bytes()
    for key in keys:
        try:
            key.verify(signature, manifest)
        except InvalidSignature:
            continue
        return manifest
    raise ArtifactError(
        f"{model_dir}: {SIGNATURE} does not verify with the configured public key "
        "(signed by another key, or the manifest was changed after signing); refusing to load it"
    )
