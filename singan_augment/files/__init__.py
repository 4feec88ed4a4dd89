"""Files: the pyramid format (``pyramid_files``: ``pyramid.json`` + ``weights.safetensors``,
hash-checked, never pickled), the growing generator's file (``growing_files``: one
``growing.safetensors``, its JSON in the header), image readers and writers (``images``), crash-safe writes
(``atomic``) and the bounded JSON reader (``safe_json``)."""
