"""POST /v1/catalog/imports"""

from recsys.api.app import lambda_handler
from recsys.api.routes.items import import_router

handler = lambda_handler(import_router)
