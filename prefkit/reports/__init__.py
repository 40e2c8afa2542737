"""Reports for people: the self-contained HTML pages of ``validate --html`` and ``eval``."""
