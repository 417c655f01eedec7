"""PUT /v1/experiments/{experiment_id}"""

from recsys.api.app import lambda_handler
from recsys.api.routes.experiments import write_router

handler = lambda_handler(write_router)
