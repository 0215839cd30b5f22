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


def add_security_headers(response: Response) -> Response:
    """Set the headers unless a view chose its own."""
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CSP)
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("Permissions-Policy", "camera=(self), microphone=(), geolocation=()")
    if current_app.config["SESSION_COOKIE_SECURE"]:
        headers.setdefault("Strict-Transport-Security", HSTS)
    return response


def init_app(app) -> None:
    app.after_request(add_security_headers)
