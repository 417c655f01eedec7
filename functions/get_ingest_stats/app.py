"""GET /v1/ingest"""

from recsys.api.app import lambda_handler
from recsys.api.routes.ingest import router

handler = lambda_handler(router)
