"""``prefkit label``: human preference labeling in Argilla.

- :mod:`.connection` connects to the server and turns its failures into one-line errors;
- :mod:`.layout` is the Argilla dataset prefkit creates (fields, the preference question, metadata);
- :mod:`.tasks` turns a pair into an Argilla record (content id, seeded A/B order) and back;
- :mod:`.media` shows a pair's images (data URIs in image fields) and gives their paths back on pull;
- :mod:`.push`, :mod:`.status`, :mod:`.pull` are the three commands; :mod:`.agreement` the statistics.

The ``argilla`` SDK is imported only here (``pip install 'prefkit[label]'``).
"""
