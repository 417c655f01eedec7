"""DELETE /v1/feedback/{feedback_id}"""

from recsys.api.app import lambda_handler
from recsys.api.routes.feedback import delete_router

handler = lambda_handler(delete_router)
