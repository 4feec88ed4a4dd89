"""Files: the pyramid format (``pyramid_files``: ``pyramid.json`` + ``weights.safetensors``,
hash-checked, never pickled), image readers and writers (``images``), crash-safe writes
(``atomic``) and the bounded JSON reader (``safe_json``)."""
