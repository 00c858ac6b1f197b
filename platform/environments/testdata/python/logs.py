import sys

from flask import request


def main():
    rid = request.headers.get("X-Lantern-Request-Id", "-")
    print("function stdout line " + rid)
    print("function stderr line " + rid, file=sys.stderr)
    return "logged " + rid + "\n"
