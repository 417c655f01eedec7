"""POST /v1/feedback"""

from recsys.api.app import lambda_handler
from recsys.api.routes.feedback import create_router

handler = lambda_handler(create_router)
