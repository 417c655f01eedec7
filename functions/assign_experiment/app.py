"""POST /v1/experiments/{experiment_id}/assignments"""

from recsys.api.app import lambda_handler
from recsys.api.routes.experiments import assign_router

handler = lambda_handler(assign_router)
