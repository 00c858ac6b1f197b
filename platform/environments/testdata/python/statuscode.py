def main():
    return "created\n", 201
