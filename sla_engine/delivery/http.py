"""A JSON POST for webhook notifiers: stdlib only, a timeout always, and errors without the URL.

Webhook URLs are secrets (a Slack incoming webhook URL is its own credential), so an error
says what happened (status, refused, timed out), never where.
"""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

from sla_engine.delivery.secrets import remember, scrub

TIMEOUT_SECONDS = 10.0


class PostFailed(RuntimeError):
    """The receiver did not accept the post; the message never names the URL."""


def post_json(url: str, body: bytes | Mapping[str, Any], headers: Mapping[str, str] | None = None,
              timeout: float = TIMEOUT_SECONDS) -> int:
    """POST JSON; returns the status, raises PostFailed on anything but 2xx."""
    remember(url)
    if not url.startswith(("https://", "http://")):
        raise PostFailed("the webhook address is not an http(s) URL")
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="POST",
                                     headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        raise PostFailed(f"the receiver answered HTTP {error.code}") from None
    except urllib.error.URLError as error:
        raise PostFailed(scrub(f"cannot reach the receiver: {error.reason}")) from None
    except TimeoutError:
        raise PostFailed(f"the receiver did not answer within {timeout:g}s") from None
    except (ValueError, http.client.InvalidURL):  # its message quotes the path: the secret part of the URL
        raise PostFailed("the webhook address is not a valid URL (a space or a control character in it?)") from None
