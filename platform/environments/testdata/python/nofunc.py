def handler():
    return "wrong name"
