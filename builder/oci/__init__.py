"""OCI images without an engine, in layers as go-containerregistry splits its ``pkg/v1``.

- ``blob``: what a blob is (its descriptor, and ``open()`` for its bytes: a file, bytes in memory, a
  repository that holds it) and a layer (a blob and its diff_id); ggcr's ``v1.Layer``.
- ``remote``: reading from a registry: an image for one platform (``resolve``), its layers streamed,
  and files read out of it (``extract_files``); ggcr's ``remote``. ``foreign``: the foreign layers
  it reads from their ``urls``.
- ``layer``: the Windows layer: its tar (``Hives/``, ``Files/``, security descriptors), gzip on every
  core (builder/pgzip.py), and its cache by the hash of its inputs; ggcr's ``tarball.LayerFromOpener``.
- ``assembly``: an image assembled from a base and layers, as values (manifest, config): no I/O;
  ggcr's ``mutate``.
- ``write``: where an assembled image goes: a registry push, a blob copy, an OCI image layout; ggcr's
  ``remote.Write`` and ``layout``.

The oci builder (builders/oci.py) uses all of them; binaries.py reads upstream's files through
``remote`` and the index tag copies blobs through ``write``.
"""
