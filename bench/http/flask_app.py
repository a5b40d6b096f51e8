"""The tutorial's hit counter (app.py), ported to Python 3 as faithfully as possible.

Kept as the benchmark's anchor. The original used Python 2, redis-py-cluster's
StrictRedisCluster without a password and Flask's development server with
debug=True (kept). Here redis-py 4's redis.cluster.RedisCluster replaces the retired
redis-py-cluster (same API for this use), and the seed node, password and listen
port come from the environment so it can reach the local cluster; everything else
is the tutorial's code.
"""
import os
import time

from flask import Flask
from redis.cluster import ClusterNode, RedisCluster

app = Flask(__name__)
startup_nodes = [
    ClusterNode(host, int(port))
    for host, port in (seed.rsplit(":", 1) for seed in os.environ["REDIS_NODES"].split(","))
]
cache = RedisCluster(
    startup_nodes=startup_nodes,
    password=os.environ.get("REDIS_PASSWORD") or None,
    decode_responses=True,
)


def get_hit_count():
    return cache.incr('hits')


@app.route('/')
def hit():
    count = get_hit_count()
    return 'I have been hit %i times since deployment.\n' % int(count)


if __name__ == "__main__":
    # As the tutorial: app.run(host="0.0.0.0", debug=True) (port 5000), reloader
    # included; the benchmark stops it by its process group.
    app.run(host=os.environ.get("HOST", "0.0.0.0"), port=int(os.environ.get("PORT", "5000")), debug=True)
