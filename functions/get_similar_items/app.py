"""GET /v1/items/{item_id}/similar"""

from recsys.api.app import lambda_handler
from recsys.api.routes.items import similar_router

handler = lambda_handler(similar_router)
