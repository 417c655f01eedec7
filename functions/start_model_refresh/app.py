"""POST /v1/model/refresh: starts IndexRefreshFunction asynchronously"""

from recsys.api.app import lambda_handler
from recsys.api.routes.model import refresh_router

handler = lambda_handler(refresh_router)
