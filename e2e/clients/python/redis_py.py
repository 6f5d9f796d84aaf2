"""redis-py's RedisCluster against an insight grid, each section written the way redis-py's docs
show its commands. Usage: python3 redis_py.py HOST:PORT SECTION[,SECTION...]

Prints one line per section (PASS or FAIL) and exits 1 if any failed.
"""

import random
import string
import sys
import threading
import time

from redis.cluster import RedisCluster
from redis.exceptions import RedisClusterException, ResponseError, WatchError


class Checks:
    """Counts the checks of one section and raises on the first mismatch."""

    def __init__(self):
        self.n = 0

    def eq(self, what, got, want):
        self.n += 1
        if got != want:
            raise AssertionError(f"{what}: got {got!r}, want {want!r}")

    def ok(self, what, cond, got):
        self.n += 1
        if not cond:
            raise AssertionError(f"{what}: got {got!r}")

    def raises(self, what, fn, exc, text=""):
        self.n += 1
        try:
            fn()
        except exc as e:
            if text not in str(e):
                raise AssertionError(f"{what}: want an error with {text!r}, got {e}") from e
            return
        raise AssertionError(f"{what}: want {exc.__name__}, got success")


def strings(r, t, p, seed):
    t.eq("SET", r.set(f"{p}:s", "hello"), True)
    t.eq("GET", r.get(f"{p}:s"), "hello")
    t.eq("GET missing", r.get(f"{p}:missing"), None)
    t.eq("INCR", r.incr(f"{p}:n"), 1)
    t.eq("INCRBY", r.incrby(f"{p}:n", 41), 42)
    t.eq("GETEX EX", r.getex(f"{p}:s", ex=100), "hello")
    ttl = r.ttl(f"{p}:s")
    t.ok("TTL after GETEX EX 100", 0 < ttl <= 100, ttl)
    t.eq("SETRANGE past the end", r.setrange(f"{p}:s", 6, "world"), 11)
    t.eq("GET after SETRANGE", r.get(f"{p}:s"), "hello\0world")
    t.eq("GETDEL", r.getdel(f"{p}:s"), "hello\0world")
    t.eq("GET after GETDEL", r.get(f"{p}:s"), None)
    tag = "{" + p + "}"
    t.eq("MSET with a hash tag", r.mset({f"{tag}:a": "1", f"{tag}:b": "2"}), True)
    t.eq("MGET with a hash tag", r.mget(f"{tag}:a", f"{tag}:b", f"{tag}:c"), ["1", "2", None])
    # redis-py refuses a cross-slot MSET itself; mset_nonatomic splits it by slot.
    t.raises("MSET across slots", lambda: r.mset({f"{p}:x1": "1", f"{p}:y2": "2"}), RedisClusterException)
    t.eq("MSET across slots, split by the client", r.mset_nonatomic({f"{p}:x1": "1", f"{p}:y2": "2"}), [True, True])
    t.eq("MGET across slots, split by the client", r.mget_nonatomic([f"{p}:x1", f"{p}:y2"]), ["1", "2"])


def keys(r, t, p, seed):
    tag = "{" + p + "}"
    r.set(f"{tag}:k", "v")
    t.eq("EXPIRE", r.expire(f"{tag}:k", 100), True)
    t.eq("EXPIRE NX on a volatile key", r.expire(f"{tag}:k", 50, nx=True), False)
    ttl = r.ttl(f"{tag}:k")
    t.ok("TTL", 0 < ttl <= 100, ttl)
    t.eq("TTL missing", r.ttl(f"{tag}:none"), -2)
    t.eq("RENAME", r.rename(f"{tag}:k", f"{tag}:k2"), True)
    t.eq("EXISTS renamed-away key", r.exists(f"{tag}:k"), 0)
    kept = r.ttl(f"{tag}:k2")
    t.ok("RENAME keeps the TTL", kept > 0, kept)
    t.eq("COPY", r.copy(f"{tag}:k2", f"{tag}:k3"), True)
    t.eq("COPY onto an existing key", r.copy(f"{tag}:k2", f"{tag}:k3"), False)
    t.eq("COPY REPLACE", r.copy(f"{tag}:k2", f"{tag}:k3", replace=True), True)
    t.eq("GET the copy", r.get(f"{tag}:k3"), "v")
    t.eq("PERSIST", r.persist(f"{tag}:k3"), True)
    t.eq("TTL after PERSIST", r.ttl(f"{tag}:k3"), -1)
    t.eq("TYPE", r.type(f"{tag}:k3"), "string")
    # RedisCluster.scan_iter scans every primary.
    want = {f"{p}:scan:{i}" for i in range(60)}
    for k in want:
        r.set(k, "x")
    t.eq("SCAN over every primary", set(r.scan_iter(match=f"{p}:scan:*", count=100)), want)
    holding = {r.get_node_from_key(k).name for k in want}
    t.ok("keys spread over more than one primary", len(holding) > 1, holding)
    t.eq("primaries", len(r.get_primaries()), 3)


def hashes(r, t, p, seed):
    k = f"{p}:h"
    t.eq("HSET mapping", r.hset(k, mapping={"name": "ada", "year": "1815"}), 2)
    t.eq("HSET field value", r.hset(k, "name", "lovelace"), 0)
    t.eq("HGETALL", r.hgetall(k), {"name": "lovelace", "year": "1815"})
    t.eq("HINCRBY", r.hincrby(k, "year", 10), 1825)
    t.eq("HINCRBY negative", r.hincrby(k, "visits", -2), -2)
    t.raises("HINCRBY on a non-integer", lambda: r.hincrby(k, "name", 1), ResponseError, "not an integer")
    big = f"{p}:big"
    fields = {f"f{i}": f"v{i}" for i in range(200)}
    r.hset(big, mapping=fields)
    t.eq("HSCAN visits every field", dict(r.hscan_iter(big, count=50)), fields)
    t.eq("HGETALL missing", r.hgetall(f"{p}:missing"), {})


def lists(r, t, p, seed):
    k, dst = "{" + p + "}:l", "{" + p + "}:dst"
    t.eq("RPUSH", r.rpush(k, "a", "b", "c"), 3)
    t.eq("LPUSH", r.lpush(k, "z"), 4)
    t.eq("LRANGE", r.lrange(k, 0, -1), ["z", "a", "b", "c"])
    t.eq("LPOP count", r.lpop(k, 2), ["z", "a"])
    t.eq("RPUSH again", r.rpush(k, "b"), 3)
    t.eq("LPOS", r.lpos(k, "c"), 1)
    t.eq("LPOS RANK 2", r.lpos(k, "b", rank=2), 2)
    t.eq("LPOS missing", r.lpos(k, "nope"), None)
    t.eq("LMOVE LEFT RIGHT", r.lmove(k, dst, "LEFT", "RIGHT"), "b")
    t.eq("LMOVE RIGHT LEFT", r.lmove(k, dst, "RIGHT", "LEFT"), "b")
    t.eq("LRANGE destination", r.lrange(dst, 0, -1), ["b", "b"])
    t.eq("LRANGE source", r.lrange(k, 0, -1), ["c"])
    t.eq("LPOP count on a missing key", r.lpop(f"{p}:missing", 2), None)


def sets(r, t, p, seed):
    a, b = "{" + p + "}:a", "{" + p + "}:b"
    t.eq("SADD", r.sadd(a, "w", "x", "y", "z"), 4)
    t.eq("SADD again", r.sadd(b, "y", "z", "q", "y"), 3)
    t.eq("SMEMBERS", r.smembers(a), {"w", "x", "y", "z"})
    t.eq("SINTERCARD", r.sintercard(2, [a, b]), 2)
    t.eq("SINTERCARD LIMIT", r.sintercard(2, [a, b], limit=1), 1)
    big = f"{p}:big"
    members = {f"m{i}" for i in range(300)}
    r.sadd(big, *members)
    t.eq("SSCAN visits every member", set(r.sscan_iter(big, count=50)), members)
    one = r.spop(b)
    t.ok("SPOP", one in {"y", "z", "q"}, one)
    t.eq("SPOP count", len(r.spop(b, 5)), 2)
    t.eq("EXISTS after the last SPOP", r.exists(b), 0)


def sortedsets(r, t, p, seed):
    k, dst = "{" + p + "}:z", "{" + p + "}:dst"
    t.eq("ZADD", r.zadd(k, {"a": 1, "b": 2, "c": 3}), 3)
    t.eq("ZRANGE BYSCORE", r.zrange(k, 2, 3, byscore=True), ["b", "c"])
    t.eq("ZRANGE BYSCORE exclusive LIMIT", r.zrange(k, "(1", "+inf", byscore=True, offset=0, num=1), ["b"])
    t.eq("ZINCRBY", r.zincrby(k, 10, "a"), 11.0)
    t.eq("ZRANK", r.zrank(k, "a"), 2)
    t.eq("ZRANK missing", r.zrank(k, "nope"), None)
    t.eq("ZPOPMIN", r.zpopmin(k), [("b", 2.0)])
    t.eq("ZRANGESTORE", r.zrangestore(dst, k, 0, -1), 2)
    t.eq("ZRANGE WITHSCORES", r.zrange(dst, 0, -1, withscores=True), [("c", 3.0), ("a", 11.0)])


def streams(r, t, p, seed):
    k = f"{p}:x"
    ids = [r.xadd(k, {"n": str(i)}) for i in range(3)]
    t.eq("XRANGE", r.xrange(k), [(id_, {"n": str(i)}) for i, id_ in enumerate(ids)])
    t.eq("XRANGE COUNT", len(r.xrange(k, count=1)), 1)
    t.eq("XGROUP CREATE", r.xgroup_create(k, "g", id="0"), True)
    t.raises("XGROUP CREATE twice", lambda: r.xgroup_create(k, "g", id="0"), ResponseError, "BUSYGROUP")
    t.eq("XREADGROUP", r.xreadgroup("g", "c1", {k: ">"}, count=2),
         [[k, [(ids[0], {"n": "0"}), (ids[1], {"n": "1"})]]])
    t.eq("XACK", r.xack(k, "g", ids[0]), 1)
    t.eq("XPENDING summary", r.xpending(k, "g"),
         {"pending": 1, "min": ids[1], "max": ids[1], "consumers": [{"name": "c1", "pending": 1}]})
    t.eq("XAUTOCLAIM", r.xautoclaim(k, "g", "c2", 0, start_id="0-0"), ["0-0", [(ids[1], {"n": "1"})], []])


def bitmaps(r, t, p, seed):
    k = f"{p}:bits"
    t.eq("SETBIT", r.setbit(k, 7, 1), 0)
    t.eq("SETBIT again", r.setbit(k, 7, 1), 1)
    t.eq("GETBIT", r.getbit(k, 7), 1)
    t.eq("BITCOUNT", r.bitcount(k), 1)
    r.set(f"{p}:fb", "foobar")
    t.eq("BITCOUNT foobar", r.bitcount(f"{p}:fb"), 26)
    t.eq("BITCOUNT range", r.bitcount(f"{p}:fb", 1, 1), 6)
    h1, h2 = "{" + p + "}:h1", "{" + p + "}:h2"
    t.eq("PFADD", r.pfadd(h1, "a", "b", "c"), 1)
    t.eq("PFADD no change", r.pfadd(h1, "a"), 0)
    t.eq("PFCOUNT", r.pfcount(h1), 3)
    r.pfadd(h2, "c", "d")
    t.eq("PFCOUNT union with a hash tag", r.pfcount(h1, h2), 4)


def blocking(r, t, p, seed):
    k = f"{p}:q"
    t.eq("BLPOP timeout on an empty list", r.blpop([k], timeout=0.1), None)
    pusher = connect(seed)
    pushed = []
    timer = threading.Timer(0.2, lambda: pushed.append(pusher.rpush(k, "job")))
    timer.start()
    try:
        t.eq("BLPOP woken by a push from another client", r.blpop([k], timeout=5), (k, "job"))
    finally:
        timer.join()
        pusher.close()
    t.eq("RPUSH from another client", pushed, [1])


def transactions(r, t, p, seed):
    tag = "{" + p + "}"
    a, n = f"{tag}:a", f"{tag}:n"
    with r.pipeline(transaction=True) as pipe:
        pipe.set(a, "1")
        pipe.incr(a)
        pipe.get(a)
        # In a cluster transaction redis-py returns SET's reply as sent ("OK").
        t.eq("pipeline(transaction=True)", pipe.execute(), ["OK", 2, "2"])
    with r.pipeline(transaction=True) as pipe:
        pipe.incr(a)
        pipe.lpush(a, "x")
        res = pipe.execute(raise_on_error=False)
    t.eq("INCR inside EXEC", res[0], 3)
    t.ok("WRONGTYPE inside EXEC, the rest applied", isinstance(res[1], ResponseError) and "WRONGTYPE" in str(res[1]), res)
    t.raises("a transaction across slots, refused by redis-py",
             lambda: r.pipeline(transaction=True).set(a, "1").set(f"{p}:other", "2").execute(),
             RedisClusterException, "same slot")
    # WATCH, read, MULTI, write, EXEC: the optimistic locking redis-py's docs show.
    r.set(n, "10")
    with r.pipeline(transaction=True) as pipe:
        pipe.watch(n)
        cur = int(pipe.get(n))
        pipe.multi()
        pipe.set(n, cur + 1)
        t.eq("WATCH GET MULTI SET EXEC", pipe.execute(), ["OK"])
    t.eq("GET after the transaction", r.get(n), "11")
    other = connect(seed)
    try:
        with r.pipeline(transaction=True) as pipe:
            pipe.watch(n)
            cur = int(pipe.get(n))
            other.set(n, "100")
            pipe.multi()
            pipe.set(n, cur + 1)
            t.raises("EXEC after another client's change", pipe.execute, WatchError)
        t.eq("the other client's change stays", r.get(n), "100")
        seen = []

        def bump(pipe):
            cur = int(pipe.get(n))
            if not seen:
                other.set(n, cur + 5)  # the first attempt loses its race
            seen.append(cur)
            pipe.multi()
            pipe.set(n, cur + 1)

        t.eq("transaction() retried until EXEC applied", r.transaction(bump, n), ["OK"])
        t.eq("transaction() attempts", seen, [100, 105])
        t.eq("GET after transaction()", r.get(n), "106")
    finally:
        other.close()


def scripting(r, t, p, seed):
    tag = "{" + p + "}"
    k1, k2 = f"{tag}:s1", f"{tag}:s2"
    t.eq("EVAL", r.eval("redis.call('SET', KEYS[1], ARGV[1]); return redis.call('INCRBY', KEYS[2], ARGV[2])", 2, k1, k2, "v", 5), 5)
    t.eq("GET after EVAL", r.get(k1), "v")
    # register_script sends EVALSHA, and SCRIPT LOAD after NOSCRIPT, as redis-py's docs show.
    incr_both = r.register_script("return {redis.call('INCR', KEYS[1]), redis.call('INCR', KEYS[2])}")
    t.eq("register_script", incr_both(keys=[f"{tag}:c1", f"{tag}:c2"]), [1, 1])
    t.eq("register_script again (EVALSHA)", incr_both(keys=[f"{tag}:c1", f"{tag}:c2"]), [2, 2])
    t.raises("an error inside the script", lambda: r.eval("return redis.call('INCR', KEYS[1])", 1, k1),
             ResponseError, "not an integer")


def pubsub(r, t, p, seed):
    ch, pattern = f"{p}:news", f"{p}:ev:*"
    sub = r.pubsub()
    try:
        sub.subscribe(ch)
        sub.psubscribe(pattern)
        confirmations = []
        deadline = time.monotonic() + 5
        while len(confirmations) < 2 and time.monotonic() < deadline:
            m = sub.get_message(timeout=0.5)
            if m:
                confirmations.append((m["type"], m["channel"]))
        t.eq("subscribe confirmations", sorted(confirmations), [("psubscribe", pattern), ("subscribe", ch)])
        # PUBLISH (and PUBSUB NUMSUB) count the receivers of the node they went to, as in
        # Redis Cluster; the message reaches the subscriber whichever node that is.
        r.publish(ch, "hello")
        r.publish(f"{p}:ev:1", "world")
        got = []
        deadline = time.monotonic() + 5
        while len(got) < 2 and time.monotonic() < deadline:
            m = sub.get_message(ignore_subscribe_messages=True, timeout=0.5)
            if m:
                got.append((m["type"], m["channel"], m["data"]))
        t.eq("messages received", got, [("message", ch, "hello"), ("pmessage", f"{p}:ev:1", "world")])
    finally:
        sub.close()


SECTIONS = {
    f.__name__: f
    for f in (strings, keys, hashes, lists, sets, sortedsets, streams, bitmaps, blocking, transactions, scripting, pubsub)
}


def connect(seed):
    host, port = seed.rsplit(":", 1)
    return RedisCluster(host=host, port=int(port), decode_responses=True, socket_timeout=10)


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    seed, names = sys.argv[1], sys.argv[2].split(",")
    r = connect(seed)
    run = "".join(random.choices(string.ascii_lowercase + string.digits, k=6))
    failed = 0
    for name in names:
        section = SECTIONS.get(name)
        if section is None:
            print(f"FAIL {name}: no such section", flush=True)
            failed += 1
            continue
        t = Checks()
        start = time.monotonic()
        try:
            section(r, t, f"cc:{run}:{name}", seed)
            print(f"PASS {name} ({t.n} checks, {(time.monotonic() - start) * 1000:.0f}ms)", flush=True)
        except Exception as e:  # noqa: BLE001 - any error fails the section, the next one still runs
            failed += 1
            print(f"FAIL {name}: {type(e).__name__}: {e}", flush=True)
    r.close()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
