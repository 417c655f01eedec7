"""The one Logger and Metrics of the service (Powertools): JSON logs, EMF metrics."""

from aws_lambda_powertools import Logger, Metrics

logger = Logger()
metrics = Metrics()
