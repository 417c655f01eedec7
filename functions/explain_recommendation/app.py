"""GET /v1/recommendations/{item_id}/explain"""

from recsys.api.app import lambda_handler
from recsys.api.routes.recommendations import explain_router

handler = lambda_handler(explain_router)
