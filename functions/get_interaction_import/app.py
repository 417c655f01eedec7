"""GET /v1/interactions/imports/{import_id}"""

from recsys.api.app import lambda_handler
from recsys.api.routes.interactions import import_status_router

handler = lambda_handler(import_status_router)
