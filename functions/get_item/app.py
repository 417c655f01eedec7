"""GET /v1/items/{item_id}"""

from recsys.api.app import lambda_handler
from recsys.api.routes.items import read_router

handler = lambda_handler(read_router)
