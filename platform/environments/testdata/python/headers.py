import json

from flask import request


def main():
    env = request.environ
    keys = sorted(k for k in env if k.startswith("HTTP_") or k in ("CONTENT_TYPE", "CONTENT_LENGTH"))
    return json.dumps({k: env[k] for k in keys}), 200, {"Content-Type": "application/json"}
