"""The shop's control plane: what AWS resources the topology needs, and how to make them exist.

- `resources`: the one resource model, as CloudFormation resource dicts derived from the topology.
  deploy/templates.py wraps it in templates for AWS; `provision` applies it anywhere else.
- `provision`: an idempotent applier of those same dicts through boto3 against any endpoint.

It lives outside `shop_eventing` because shop_eventing is vendored into every Lambda deployment
package, and no function needs the rights or the code to create the platform.
"""
