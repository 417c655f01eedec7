"""GET /v1/users/{user_id}"""

from recsys.api.app import lambda_handler
from recsys.api.routes.users import read_router

handler = lambda_handler(read_router)
