"""The one way a server URL is shown (errors, progress, reports, output rows): without its credentials.

A user name or password in the URL (``http://user:KEY@host/v1``) and the value of a query parameter that names
a secret (``?api_key=...``, ``token``, ``password``, ``sig``...) are never printed or written; :func:`scrub`
removes them, and the full URL, from any text (a server's or a library's error message).

>>> display_url("http://me:sk-123@127.0.0.1:8000/v1?api_key=sk-9&x=1")
'http://127.0.0.1:8000/v1?api_key=***&x=1'
>>> scrub("cannot reach http://me:sk-123@h:9/v1 (sk-123)", "http://me:sk-123@h:9/v1")
'cannot reach http://h:9/v1 (***)'
"""

from __future__ import annotations

import re
from urllib.parse import SplitResult, parse_qsl, unquote, urlencode, urlsplit, urlunsplit

HIDDEN = "***"
MIN_SECRET = 3  # shorter secret parts are not replaced in free text (they would garble it); URLs are still cut
_SECRET_PARAM = re.compile(r"key|token|secret|passw|pwd|auth|sig|credential", re.I)


def _split(url: str) -> tuple[SplitResult, bool]:
    """The URL's parts, and whether it had no scheme but a user part (``user:pass@host:port``, a Ray address),
    read as a network location."""
    bare = "://" not in url and "@" in url and not url.startswith("//")
    return urlsplit("//" + url if bare else url), bare


def display_url(url: str | None) -> str:
    """``url`` as it may be shown: no user name or password, secret query values as ``***``; "" for None.

    >>> display_url("u:PASSWORD@127.0.0.1:6379")
    '127.0.0.1:6379'
    """
    if not url:
        return ""
    try:
        parts, bare = _split(url)
    except ValueError:  # not a URL at all (an unbalanced "[" ...): show nothing of it that could be a secret
        return url.rsplit("@", 1)[-1] if "@" in url else url
    netloc = parts.netloc.rsplit("@", 1)[-1]
    query = parts.query
    if query and any(_SECRET_PARAM.search(name) for name, _ in parse_qsl(query, keep_blank_values=True)):
        query = urlencode([(name, HIDDEN if _SECRET_PARAM.search(name) else value)
                           for name, value in parse_qsl(query, keep_blank_values=True)], safe="*")
    shown = urlunsplit(parts._replace(netloc=netloc, query=query))
    return shown.removeprefix("//") if bare else shown


def secrets_of(url: str | None) -> list[str]:
    """The secret parts of ``url`` (its user info, password and secret query values, raw and decoded)."""
    if not url:
        return []
    try:
        parts, _ = _split(url)
    except ValueError:
        return [url.rsplit("@", 1)[0]] if "@" in url else []
    found: list[str] = []
    if "@" in parts.netloc:
        userinfo = parts.netloc.rsplit("@", 1)[0]
        if ":" in userinfo:  # user:password: the pair, and the password
            password = userinfo.split(":", 1)[1]
            found += [userinfo, unquote(userinfo), password, unquote(password)]
        elif len(userinfo) >= MIN_SECRET:  # a token given as the user name
            found += [userinfo, unquote(userinfo)]
    found += [v for name, v in parse_qsl(parts.query, keep_blank_values=True) if _SECRET_PARAM.search(name)]
    # longest first (a password inside its user:password); a value too short to hide is not searched for
    return sorted({s for s in found if len(s) >= MIN_SECRET}, key=len, reverse=True)


def scrub(text: str, *urls: str | None, secrets: tuple[str, ...] = ()) -> str:
    """``text`` with each of ``urls`` shown as :func:`display_url` shows it, and every secret part of them (and
    each of ``secrets``, an API key) replaced by ``***``."""
    for url in urls:
        if url and url != display_url(url):
            text = text.replace(url, display_url(url))
    for secret in [s for url in urls for s in secrets_of(url)] + [s for s in secrets if len(s) >= MIN_SECRET]:
        text = text.replace(secret, HIDDEN)
    return text
