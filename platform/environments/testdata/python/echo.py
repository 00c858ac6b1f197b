from flask import request


def main():
    body = request.get_data(as_text=True)
    headers = {"X-Method": request.method}
    return "%s %s %s" % (request.method, request.full_path.rstrip("?"), body), 200, headers
