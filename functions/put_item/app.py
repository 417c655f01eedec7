"""PUT /v1/items/{item_id}"""

from recsys.api.app import lambda_handler
from recsys.api.routes.items import write_router

handler = lambda_handler(write_router)
