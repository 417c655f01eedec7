"""GET /v1/model"""

from recsys.api.app import lambda_handler
from recsys.api.routes.model import read_router

handler = lambda_handler(read_router)
