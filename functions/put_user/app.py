"""PUT /v1/users/{user_id}"""

from recsys.api.app import lambda_handler
from recsys.api.routes.users import write_router

handler = lambda_handler(write_router)
