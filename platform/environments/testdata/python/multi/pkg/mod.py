import os

import helper
from pkg import util

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data.txt")


def func():
    with open(DATA) as f:
        name = f.read().strip()
    return {"greeting": helper.greeting(name), "shout": util.shout(name)}
