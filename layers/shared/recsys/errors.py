"""What the service's rules refuse, independent of HTTP (the API maps each to its status)."""


class DomainError(Exception):
    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class NotFoundError(DomainError):
    pass


class VersionConflictError(DomainError):
    """The caller's expected version is not the current one."""


class IdempotencyMismatchError(DomainError):
    """An idempotency key already used with a different request."""


class InProgressError(DomainError):
    """Another request doing the same work (the same event id) has not finished: retry shortly."""


class NotPublishedError(DomainError):
    """The interaction stream did not take the event now (its claim is released): send it again."""
