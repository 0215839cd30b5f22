"""The one way a service turns a request down, so views need not know each service's reasons."""


class Refused(Exception):
    """A refusal: a Chinese message for the user and the HTTP status to answer; nothing written."""

    status = 400

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
