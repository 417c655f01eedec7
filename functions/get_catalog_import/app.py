"""GET /v1/catalog/imports/{import_id}"""

from recsys.api.app import lambda_handler
from recsys.api.routes.items import import_status_router

handler = lambda_handler(import_status_router)
