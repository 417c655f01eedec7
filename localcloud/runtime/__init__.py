"""The local Lambda runtime: every function of template.yaml in its own execution environments
(AWS's Runtime Interface Emulator + awslambdaric), an API Gateway, the Lambda Invoke API, event
sources, schedules and EventBridge rules on EMR Serverless runs."""
