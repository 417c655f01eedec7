"""POST /v1/interactions"""

from recsys.api.app import lambda_handler
from recsys.api.routes.interactions import router

handler = lambda_handler(router)
