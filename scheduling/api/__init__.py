"""The REST API under /api/v1/ (SPEC F19): token authentication, one APIView per operation,
writes through the services. See docs/api.md."""
