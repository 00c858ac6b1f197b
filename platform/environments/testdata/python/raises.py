from flask import request


def main():
    if request.args.get("ok"):
        return "still serving\n"
    raise ValueError("boom")
