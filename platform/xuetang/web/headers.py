"""Security headers on every response: a strict Content-Security-Policy and its companions."""

from flask import Response, current_app

# No inline script anywhere (handlers live in static/js); style attributes are allowed because
# progress bars set their width inline, <style> elements are not. Snapshots and the player use
# blob: URLs and the camera; nothing is framed, nothing posts to another site.
CSP = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "style-src-attr 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "media-src 'self' blob:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])
HSTS = "max-age=31536000; includeSubDomains"


BASE = (
    ("Content-Security-Policy", CSP),
    ("X-Frame-Options", "DENY"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("Permissions-Policy", "camera=(self), microphone=(), geolocation=()"),
)
WITH_HSTS = (*BASE, ("Strict-Transport-Security", HSTS))


def for_response(config) -> tuple:
    """The headers every answer carries (HSTS only when the site is served over HTTPS)."""
    return WITH_HSTS if config["SESSION_COOKIE_SECURE"] else BASE


def add_security_headers(response: Response) -> Response:
    """Set the headers unless a view chose its own."""
    headers = response.headers
    for name, value in for_response(current_app.config):
        headers.setdefault(name, value)
    return response


def init_app(app) -> None:
    app.after_request(add_security_headers)
