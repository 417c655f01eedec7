"""PUT /v1/items/{item_id}/features"""

from recsys.api.app import lambda_handler
from recsys.api.routes.items import features_router

handler = lambda_handler(features_router)
