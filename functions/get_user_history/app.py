"""GET /v1/users/{user_id}/history"""

from recsys.api.app import lambda_handler
from recsys.api.routes.users import history_router

handler = lambda_handler(history_router)
