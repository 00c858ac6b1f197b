import time


def main():
    def chunks():
        for i in range(3):
            if i:
                time.sleep(0.3)
            print("sending chunk %d" % i)  # a log line inside the streamed call
            yield "chunk %d\n" % i

    return chunks()
