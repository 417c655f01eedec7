"""POST /v1/interactions/batch"""

from recsys.api.app import lambda_handler
from recsys.api.routes.interactions import batch_router

handler = lambda_handler(batch_router)
