"""The JSON documents a registry serves, read strictly: image manifests, indexes and image configs.

A registry's answer is input like any other. A digest only proves the bytes are the ones the
registry holds, not that they are what the tool can read: bytes that are not UTF-8 JSON (RFC 8259
§8.1: JSON exchanged between systems MUST be UTF-8), or JSON without the fields the tool reads with
the types the OCI image spec gives them (manifest.md, image-index.md, descriptor.md, config.md),
are one ``RegistryError`` naming the reference, never a UnicodeDecodeError, KeyError or TypeError
from deep inside a build or a publish. Only the fields the tool reads are checked; the rest is
kept as it came.
"""

from __future__ import annotations

import json

from ..errors import RegistryError
from ..reference import DIGEST_RE


def parse_json(body: bytes, what: str) -> dict:
    """``body`` as a JSON object; ``what`` names the document in the message (``REF: the manifest``)."""
    try:
        value = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise RegistryError(f"{what} is not UTF-8 JSON (byte 0x{body[exc.start]:02x} at offset {exc.start})") \
            from None
    except RecursionError:
        raise RegistryError(f"{what} is not readable JSON (nested too deeply)") from None
    except ValueError as exc:
        raise RegistryError(f"{what} is not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise RegistryError(f"{what} is not a JSON object")
    return value


def image_manifest(body: bytes, what: str) -> dict:
    """An image manifest: a ``config`` descriptor and a list of ``layers`` descriptors."""
    manifest = parse_json(body, what)
    _descriptor(manifest.get("config"), f"{what}: config")
    layers = manifest.get("layers", [])
    if not isinstance(layers, list):
        raise RegistryError(f"{what}: layers is not a list")
    for number, layer in enumerate(layers):
        _descriptor(layer, f"{what}: layers[{number}]")
    return manifest


def image_index(body: bytes, what: str) -> dict:
    """An image index (or Docker manifest list): ``manifests``, descriptors with an optional ``platform``."""
    index = parse_json(body, what)
    entries = index.get("manifests", [])
    if not isinstance(entries, list):
        raise RegistryError(f"{what}: manifests is not a list")
    for number, entry in enumerate(entries):
        _descriptor(entry, f"{what}: manifests[{number}]")
        platform = entry.get("platform", {})
        if not isinstance(platform, dict):
            raise RegistryError(f"{what}: manifests[{number}].platform is not an object")
        _strings(platform, ("os", "architecture", "os.version"), f"{what}: manifests[{number}].platform")
    return index


def image_config(body: bytes, what: str) -> dict:
    """An image config: the platform fields, ``config`` (Env, Labels), ``rootfs.diff_ids`` and ``history``."""
    config = parse_json(body, what)
    _strings(config, ("os", "architecture", "os.version", "created"), what)
    container = config.get("config")
    if container is not None:
        if not isinstance(container, dict):
            raise RegistryError(f"{what}: config is not an object")
        env = container.get("Env")
        if env is not None and not (isinstance(env, list) and all(isinstance(e, str) for e in env)):
            raise RegistryError(f"{what}: config.Env is not a list of strings")
        labels = container.get("Labels")
        if labels is not None and not (isinstance(labels, dict) and all(isinstance(v, str) for v in labels.values())):
            raise RegistryError(f"{what}: config.Labels is not an object of strings")
    rootfs = config.get("rootfs")
    if rootfs is not None:
        diff_ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
        if not (isinstance(diff_ids, list) and all(isinstance(d, str) for d in diff_ids)):
            raise RegistryError(f"{what}: rootfs.diff_ids is not a list of strings")
    history = config.get("history")
    if history is not None and not (isinstance(history, list) and all(isinstance(h, dict) for h in history)):
        raise RegistryError(f"{what}: history is not a list of objects")
    return config


def _descriptor(value: object, what: str) -> None:
    """A descriptor (descriptor.md): ``mediaType``, a sha256 ``digest`` (the one algorithm the tool
    handles, see reference.py), a ``size`` in bytes, and ``urls`` if any."""
    if not isinstance(value, dict):
        raise RegistryError(f"{what} is not a descriptor object")
    if not isinstance(value.get("mediaType"), str):
        raise RegistryError(f"{what}: mediaType is not a string")
    digest = value.get("digest")
    if not isinstance(digest, str) or not DIGEST_RE.match(digest):
        raise RegistryError(f"{what}: digest {str(digest)[:80]!r} is not sha256:<64 hex digits>")
    size = value.get("size")
    if type(size) is not int or size < 0:  # noqa: E721 - a bool is an int to isinstance
        raise RegistryError(f"{what}: size {str(size)[:40]!r} is not a number of bytes")
    urls = value.get("urls")
    if urls is not None and not (isinstance(urls, list) and all(isinstance(u, str) for u in urls)):
        raise RegistryError(f"{what}: urls is not a list of strings")


def _strings(document: dict, keys: tuple[str, ...], what: str) -> None:
    for key in keys:
        if key in document and not isinstance(document[key], str):
            raise RegistryError(f"{what}: {key} is not a string")
