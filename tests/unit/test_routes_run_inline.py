"""Every endpoint and dependency is a coroutine function: FastAPI runs a plain `def` in a worker
thread, and Mangum's new event loop per invocation made that a new thread per request (half of a
simple read's time in the handler)."""

import inspect

from fastapi.routing import APIRoute

from recsys.api.openapi import ALL_ROUTERS, full_app


def dependencies(dependant):
    for dependency in dependant.dependencies:
        yield dependency
        yield from dependencies(dependency)


def test_no_route_or_dependency_runs_in_a_thread():
    blocking = []
    for router in ALL_ROUTERS:
        for route in router.routes:
            assert isinstance(route, APIRoute)
            if not inspect.iscoroutinefunction(route.endpoint):
                blocking.append(route.path)
            for dependency in dependencies(route.dependant):
                if dependency.call is not None and not inspect.iscoroutinefunction(dependency.call):
                    blocking.append(f"{route.path}: {dependency.call.__name__}")
    assert blocking == []


def test_no_exception_handler_runs_in_a_thread():
    """Starlette runs a plain `def` exception handler in a worker thread: every error response."""
    handlers = full_app().exception_handlers
    assert handlers and all(inspect.iscoroutinefunction(h) for h in handlers.values()), handlers
