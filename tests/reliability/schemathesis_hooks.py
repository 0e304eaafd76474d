"""schemathesis hooks for tests/reliability/openapi.py (SCHEMATHESIS_HOOKS):
Glance's JSON patch media type is JSON to send."""

import json

import schemathesis


@schemathesis.serializer("application/openstack-images-v2.1-json-patch")
def json_patch(ctx, value):
    return {"data": json.dumps(value).encode()}
