"""GET /v1/experiments"""

from recsys.api.app import lambda_handler
from recsys.api.routes.experiments import list_router

handler = lambda_handler(list_router)
