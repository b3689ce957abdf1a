"""The model on disk as data, never as code: Parquet and JSON, versioned by their content hash.

A pickle runs code when it is loaded; these files can only be read. A model is a folder:

    <folder>/<version>/vocabulary.parquet   term, idf, coef (one row per vocabulary term)
    <folder>/<version>/lexicon.parquet      word, valence
    <folder>/<version>/model.json           intercept, lexicon weights and rules, options, info
    <folder>/<version>/manifest.json        the version and each file's sha256; written last

The version is the first 16 hex digits of a sha256 over the files' names and sha256s, so the
same model always gets the same version and a different one never does. `load` checks every
file against the manifest and the manifest against the version asked for, and refuses a model
whose files do not match, naming the file. Files are written under a temporary name and moved
into place, the manifest last: a save that dies half-way leaves a folder without a manifest,
which `load` refuses as incomplete.
"""

from __future__ import annotations

import hashlib
import io
import json
import uuid
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from lakehouse.ml.lexicon import Lexicon
from lakehouse.ml.model import SentimentModel

if TYPE_CHECKING:
    from lakehouse.storage import LakeFileSystem

FORMAT = "lakehouse-sentiment/1"
VOCABULARY = "vocabulary.parquet"
LEXICON = "lexicon.parquet"
MODEL = "model.json"
MANIFEST = "manifest.json"
CONTENT_FILES = (VOCABULARY, LEXICON, MODEL)


class ArtifactError(ValueError):
    """A saved model that cannot be trusted: missing, incomplete, or not matching its hash."""


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def content_version(hashes: dict[str, str]) -> str:
    """The version of files with these sha256s: 16 hex digits of a sha256 over name and hash."""
    listing = "".join(f"{name}\0{hashes[name]}\n" for name in sorted(hashes))
    return _sha256(listing.encode())[:16]


def _parquet(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_parquet(buffer, compression="zstd", statistics=False)
    return buffer.getvalue()


def to_files(model: SentimentModel) -> dict[str, bytes]:
    """The model's files (manifest included) by name; the version is in the manifest."""
    vocabulary = pl.DataFrame(
        {"term": model.terms, "idf": model.idf, "coef": model.coef},
        schema={"term": pl.String, "idf": pl.Float64, "coef": pl.Float64},
    )
    document = {
        "format": FORMAT,
        "intercept": model.intercept,
        "lexicon_coef": model.lexicon_coef,
        "lexicon_scale": model.lexicon_scale,
        "lexicon_boost": model.lexicon_boost,
        "lexicon": model.lexicon.parameters(),
        "options": model.options,
        "info": model.info,
    }
    files = {
        VOCABULARY: _parquet(vocabulary),
        LEXICON: _parquet(model.lexicon.frame()),
        MODEL: json.dumps(document, indent=1, sort_keys=True, allow_nan=False).encode(),
    }
    hashes = {name: _sha256(data) for name, data in files.items()}
    manifest = {"format": FORMAT, "version": content_version(hashes), "files": hashes}
    files[MANIFEST] = json.dumps(manifest, indent=1, sort_keys=True).encode()
    return files


def version_of(files: dict[str, bytes]) -> str:
    return json.loads(files[MANIFEST])["version"]


def verified(files: dict[str, bytes], version: str) -> dict[str, bytes]:
    """The content files, once each matches the manifest and the manifest matches `version`."""
    if MANIFEST not in files:
        raise ArtifactError(f"model {version}: {MANIFEST} is missing (an incomplete save?)")
    try:
        manifest = json.loads(files[MANIFEST])
        hashes: dict[str, str] = dict(manifest["files"])
    except (ValueError, KeyError, TypeError) as error:
        raise ArtifactError(f"model {version}: {MANIFEST} is not a manifest: {error}") from None
    if manifest.get("format") != FORMAT:
        raise ArtifactError(f"model {version}: {MANIFEST} has format {manifest.get('format')!r}")
    if sorted(hashes) != sorted(CONTENT_FILES):
        raise ArtifactError(f"model {version}: {MANIFEST} lists {sorted(hashes)}")
    for name in CONTENT_FILES:
        if name not in files:
            raise ArtifactError(f"model {version}: {name} is missing")
        actual = _sha256(files[name])
        if actual != hashes[name]:
            raise ArtifactError(
                f"model {version}: {name} has sha256 {actual}, its manifest says {hashes[name]}"
            )
    if content_version(hashes) != version or manifest.get("version") != version:
        raise ArtifactError(
            f"model {version}: {MANIFEST} describes version {content_version(hashes)}"
        )
    return {name: files[name] for name in CONTENT_FILES}


def from_files(files: dict[str, bytes], version: str) -> SentimentModel:
    """The model in `files` (as `to_files` makes them), after checking them against
    `version`."""
    files = verified(files, version)
    document = json.loads(files[MODEL])
    vocabulary = pl.read_parquet(io.BytesIO(files[VOCABULARY]))
    lexicon = Lexicon.from_parts(pl.read_parquet(io.BytesIO(files[LEXICON])), document["lexicon"])
    return SentimentModel(
        terms=vocabulary["term"],
        idf=vocabulary["idf"].to_numpy().astype(np.float64),
        coef=vocabulary["coef"].to_numpy().astype(np.float64),
        intercept=float(document["intercept"]),
        lexicon_coef=float(document["lexicon_coef"]),
        lexicon=lexicon,
        lexicon_scale=float(document["lexicon_scale"]),
        lexicon_boost=float(document["lexicon_boost"]),
        options=document["options"],
        info=document["info"],
    )


def save(model: SentimentModel, fs: LakeFileSystem, folder: str) -> str:
    """Write the model under `folder/<version>/` and return the version. Saving a model that is
    already there (complete) writes nothing."""
    files = to_files(model)
    version = version_of(files)
    target = f"{folder.rstrip('/')}/{version}"
    if fs.exists(f"{target}/{MANIFEST}"):
        return version
    fs.makedirs(target)
    for name in (*CONTENT_FILES, MANIFEST):
        temporary = f"{target}/.{name}.{uuid.uuid4().hex}.tmp"
        with fs.open_output(temporary) as stream:
            stream.write(files[name])
        fs.move(temporary, f"{target}/{name}")
    return version


def load(fs: LakeFileSystem, folder: str, version: str) -> SentimentModel:
    """The model saved as `version` under `folder`; `ArtifactError` if it is missing,
    incomplete or altered."""
    target = f"{folder.rstrip('/')}/{version}"
    files = {}
    for name in (MANIFEST, *CONTENT_FILES):
        path = f"{target}/{name}"
        if fs.exists(path):
            files[name] = fs.read_bytes(path)
        elif name == MANIFEST:
            raise ArtifactError(f"model {version}: {path} is missing (an incomplete save?)")
    return from_files(files, version)


def saved_versions(fs: LakeFileSystem, folder: str) -> list[str]:
    """Versions under `folder` whose save completed (their manifest is written)."""
    return [
        path.rsplit("/", 1)[-1] for path in fs.subdirs(folder) if fs.exists(f"{path}/{MANIFEST}")
    ]
