"""PUT /v1/feedback/{feedback_id}"""

from recsys.api.app import lambda_handler
from recsys.api.routes.feedback import update_router

handler = lambda_handler(update_router)
