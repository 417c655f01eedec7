"""GET /v1/recommendations"""

from recsys.api.app import lambda_handler
from recsys.api.routes.recommendations import list_router

handler = lambda_handler(list_router)
