from flask import Response, request


def main():
    body = "name=%s\n" % request.args.get("name", "nobody")
    return Response(body, status=202, headers={"X-Test": "response"}, mimetype="text/plain")
