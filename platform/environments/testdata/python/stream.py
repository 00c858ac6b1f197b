import time


def main():
    def chunks():
        for i in range(3):
            if i:
                time.sleep(0.3)
            yield "chunk %d\n" % i

    return chunks()
