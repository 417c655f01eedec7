"""POST /v1/interactions/imports"""

from recsys.api.app import lambda_handler
from recsys.api.routes.interactions import imports_router

handler = lambda_handler(imports_router)
