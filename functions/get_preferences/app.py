"""GET /v1/users/{user_id}/preferences"""

from recsys.api.app import lambda_handler
from recsys.api.routes.users import preferences_read_router

handler = lambda_handler(preferences_read_router)
