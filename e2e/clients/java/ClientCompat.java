// Jedis's JedisCluster against an insight grid, each section written the way Jedis's docs show
// its commands. Run in the JDK's source-file mode with the jars ci/clients.sh installs:
//
//   java -cp 'DIR/lib/*' ClientCompat.java HOST:PORT SECTION[,SECTION...]
//
// Prints one line per section (PASS or FAIL) and exits 1 if any failed.

import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import redis.clients.jedis.Connection;
import redis.clients.jedis.ConnectionPool;
import redis.clients.jedis.HostAndPort;
import redis.clients.jedis.Jedis;
import redis.clients.jedis.JedisCluster;
import redis.clients.jedis.JedisPubSub;
import redis.clients.jedis.StreamEntryID;
import redis.clients.jedis.Transaction;
import redis.clients.jedis.args.ExpiryOption;
import redis.clients.jedis.args.ListDirection;
import redis.clients.jedis.exceptions.JedisClusterOperationException;
import redis.clients.jedis.exceptions.JedisDataException;
import redis.clients.jedis.params.GetExParams;
import redis.clients.jedis.params.LPosParams;
import redis.clients.jedis.params.ScanParams;
import redis.clients.jedis.params.XAutoClaimParams;
import redis.clients.jedis.params.XReadGroupParams;
import redis.clients.jedis.params.ZRangeParams;
import redis.clients.jedis.resps.ScanResult;
import redis.clients.jedis.resps.StreamEntry;
import redis.clients.jedis.resps.StreamPendingSummary;
import redis.clients.jedis.resps.Tuple;
import redis.clients.jedis.util.JedisClusterCRC16;
import redis.clients.jedis.util.KeyValue;

public class ClientCompat {
    /** Counts the checks of one section and throws on the first mismatch. */
    static final class Checks {
        int n;

        void eq(String what, Object got, Object want) {
            n++;
            if (!Objects.equals(got, want)) {
                throw new AssertionError(what + ": got " + got + ", want " + want);
            }
        }

        void ok(String what, boolean cond, Object got) {
            n++;
            if (!cond) {
                throw new AssertionError(what + ": got " + got);
            }
        }

        void raises(String what, Runnable fn, Class<? extends Exception> type, String text) {
            n++;
            try {
                fn.run();
            } catch (Exception e) {
                if (!type.isInstance(e) || !String.valueOf(e.getMessage()).contains(text)) {
                    throw new AssertionError(what + ": want " + type.getSimpleName() + " with '" + text + "', got " + e);
                }
                return;
            }
            throw new AssertionError(what + ": want " + type.getSimpleName() + ", got success");
        }
    }

    interface Section {
        void run(JedisCluster c, Checks t, String p) throws Exception;
    }

    static HostAndPort seed;

    static JedisCluster connect() {
        return new JedisCluster(seed, 10_000);
    }

    static void strings(JedisCluster c, Checks t, String p) {
        t.eq("SET", c.set(p + ":s", "hello"), "OK");
        t.eq("GET", c.get(p + ":s"), "hello");
        t.eq("GET missing", c.get(p + ":missing"), null);
        t.eq("INCR", c.incr(p + ":n"), 1L);
        t.eq("INCRBY", c.incrBy(p + ":n", 41), 42L);
        t.eq("GETEX EX", c.getEx(p + ":s", GetExParams.getExParams().ex(100)), "hello");
        long ttl = c.ttl(p + ":s");
        t.ok("TTL after GETEX EX 100", ttl > 0 && ttl <= 100, ttl);
        t.eq("SETRANGE past the end", c.setrange(p + ":s", 6, "world"), 11L);
        t.eq("GET after SETRANGE", c.get(p + ":s"), "hello\0world");
        t.eq("GETDEL", c.getDel(p + ":s"), "hello\0world");
        t.eq("GET after GETDEL", c.get(p + ":s"), null);
        String tag = "{" + p + "}";
        t.eq("MSET with a hash tag", c.mset(tag + ":a", "1", tag + ":b", "2"), "OK");
        t.eq("MGET with a hash tag", c.mget(tag + ":a", tag + ":b", tag + ":c"), java.util.Arrays.asList("1", "2", null));
        // JedisCluster refuses a multi-key command across slots before sending it.
        t.raises("MSET across slots", () -> c.mset(p + ":x1", "1", p + ":y2", "2"), JedisClusterOperationException.class, "slot");
    }

    static void keys(JedisCluster c, Checks t, String p) {
        String tag = "{" + p + "}";
        c.set(tag + ":k", "v");
        t.eq("EXPIRE", c.expire(tag + ":k", 100), 1L);
        t.eq("EXPIRE NX on a volatile key", c.expire(tag + ":k", 50, ExpiryOption.NX), 0L);
        long ttl = c.ttl(tag + ":k");
        t.ok("TTL", ttl > 0 && ttl <= 100, ttl);
        t.eq("TTL missing", c.ttl(tag + ":none"), -2L);
        t.eq("RENAME", c.rename(tag + ":k", tag + ":k2"), "OK");
        t.eq("EXISTS renamed-away key", c.exists(tag + ":k"), false);
        long kept = c.ttl(tag + ":k2");
        t.ok("RENAME keeps the TTL", kept > 0, kept);
        t.eq("COPY", c.copy(tag + ":k2", tag + ":k3", false), true);
        t.eq("COPY onto an existing key", c.copy(tag + ":k2", tag + ":k3", false), false);
        t.eq("COPY REPLACE", c.copy(tag + ":k2", tag + ":k3", true), true);
        t.eq("GET the copy", c.get(tag + ":k3"), "v");
        t.eq("PERSIST", c.persist(tag + ":k3"), 1L);
        t.eq("TTL after PERSIST", c.ttl(tag + ":k3"), -1L);
        t.eq("TYPE", c.type(tag + ":k3"), "string");
        // SCAN is per node: scan each node of the cluster through a connection from its pool.
        Set<String> want = new HashSet<>();
        for (int i = 0; i < 60; i++) {
            want.add(p + ":scan:" + i);
            c.set(p + ":scan:" + i, "x");
        }
        Set<String> seen = new HashSet<>();
        int holding = 0;
        for (ConnectionPool pool : c.getClusterNodes().values()) {
            try (Connection conn = pool.getResource()) {
                Jedis node = new Jedis(conn);
                String cursor = ScanParams.SCAN_POINTER_START;
                int found = 0;
                do {
                    ScanResult<String> r = node.scan(cursor, new ScanParams().match(p + ":scan:*").count(100));
                    cursor = r.getCursor();
                    found += r.getResult().size();
                    seen.addAll(r.getResult());
                } while (!cursor.equals(ScanParams.SCAN_POINTER_START));
                if (found > 0) {
                    holding++;
                }
            }
        }
        t.eq("SCAN over every node", seen, want);
        t.ok("keys spread over more than one node", holding > 1, holding);
    }

    static void hashes(JedisCluster c, Checks t, String p) {
        String k = p + ":h";
        Map<String, String> m = new HashMap<>();
        m.put("name", "ada");
        m.put("year", "1815");
        t.eq("HSET map", c.hset(k, m), 2L);
        t.eq("HSET field value", c.hset(k, "name", "lovelace"), 0L);
        t.eq("HGETALL", c.hgetAll(k), Map.of("name", "lovelace", "year", "1815"));
        t.eq("HINCRBY", c.hincrBy(k, "year", 10), 1825L);
        t.eq("HINCRBY negative", c.hincrBy(k, "visits", -2), -2L);
        t.raises("HINCRBY on a non-integer", () -> c.hincrBy(k, "name", 1), JedisDataException.class, "not an integer");
        String big = p + ":big";
        Map<String, String> fields = new HashMap<>();
        for (int i = 0; i < 200; i++) {
            fields.put("f" + i, "v" + i);
        }
        c.hset(big, fields);
        Map<String, String> got = new HashMap<>();
        String cursor = ScanParams.SCAN_POINTER_START;
        do {
            ScanResult<Map.Entry<String, String>> r = c.hscan(big, cursor, new ScanParams().count(50));
            cursor = r.getCursor();
            r.getResult().forEach(e -> got.put(e.getKey(), e.getValue()));
        } while (!cursor.equals(ScanParams.SCAN_POINTER_START));
        t.eq("HSCAN visits every field", got, fields);
        t.eq("HGETALL missing", c.hgetAll(p + ":missing"), Map.of());
    }

    static void lists(JedisCluster c, Checks t, String p) {
        String k = "{" + p + "}:l", dst = "{" + p + "}:dst";
        t.eq("RPUSH", c.rpush(k, "a", "b", "c"), 3L);
        t.eq("LPUSH", c.lpush(k, "z"), 4L);
        t.eq("LRANGE", c.lrange(k, 0, -1), List.of("z", "a", "b", "c"));
        t.eq("LPOP count", c.lpop(k, 2), List.of("z", "a"));
        t.eq("RPUSH again", c.rpush(k, "b"), 3L);
        t.eq("LPOS", c.lpos(k, "c"), 1L);
        t.eq("LPOS RANK 2", c.lpos(k, "b", LPosParams.lPosParams().rank(2)), 2L);
        t.eq("LPOS missing", c.lpos(k, "nope"), null);
        t.eq("LMOVE LEFT RIGHT", c.lmove(k, dst, ListDirection.LEFT, ListDirection.RIGHT), "b");
        t.eq("LMOVE RIGHT LEFT", c.lmove(k, dst, ListDirection.RIGHT, ListDirection.LEFT), "b");
        t.eq("LRANGE destination", c.lrange(dst, 0, -1), List.of("b", "b"));
        t.eq("LRANGE source", c.lrange(k, 0, -1), List.of("c"));
        t.eq("LPOP count on a missing key", c.lpop(p + ":missing", 2), null);
    }

    static void sets(JedisCluster c, Checks t, String p) {
        String a = "{" + p + "}:a", b = "{" + p + "}:b";
        t.eq("SADD", c.sadd(a, "w", "x", "y", "z"), 4L);
        t.eq("SADD again", c.sadd(b, "y", "z", "q", "y"), 3L);
        t.eq("SMEMBERS", c.smembers(a), Set.of("w", "x", "y", "z"));
        t.eq("SINTERCARD", c.sintercard(a, b), 2L);
        t.eq("SINTERCARD LIMIT", c.sintercard(1, a, b), 1L);
        String big = p + ":big";
        Set<String> members = new HashSet<>();
        for (int i = 0; i < 300; i++) {
            members.add("m" + i);
        }
        c.sadd(big, members.toArray(new String[0]));
        Set<String> seen = new HashSet<>();
        String cursor = ScanParams.SCAN_POINTER_START;
        do {
            ScanResult<String> r = c.sscan(big, cursor, new ScanParams().count(50));
            cursor = r.getCursor();
            seen.addAll(r.getResult());
        } while (!cursor.equals(ScanParams.SCAN_POINTER_START));
        t.eq("SSCAN visits every member", seen, members);
        String one = c.spop(b);
        t.ok("SPOP", Set.of("y", "z", "q").contains(one), one);
        t.eq("SPOP count", c.spop(b, 5).size(), 2);
        t.eq("EXISTS after the last SPOP", c.exists(b), false);
    }

    static void sortedsets(JedisCluster c, Checks t, String p) {
        String k = "{" + p + "}:z", dst = "{" + p + "}:dst";
        Map<String, Double> scores = new LinkedHashMap<>();
        scores.put("a", 1.0);
        scores.put("b", 2.0);
        scores.put("c", 3.0);
        t.eq("ZADD", c.zadd(k, scores), 3L);
        t.eq("ZRANGE BYSCORE", c.zrange(k, ZRangeParams.zrangeByScoreParams(2, 3)), List.of("b", "c"));
        t.eq("ZRANGEBYSCORE exclusive LIMIT", c.zrangeByScore(k, "(1", "+inf", 0, 1), List.of("b"));
        t.eq("ZINCRBY", c.zincrby(k, 10, "a"), 11.0);
        t.eq("ZRANK", c.zrank(k, "a"), 2L);
        t.eq("ZRANK missing", c.zrank(k, "nope"), null);
        t.eq("ZPOPMIN", c.zpopmin(k), new Tuple("b", 2.0));
        t.eq("ZRANGESTORE", c.zrangestore(dst, k, ZRangeParams.zrangeParams(0, -1)), 2L);
        t.eq("ZRANGE WITHSCORES", c.zrangeWithScores(dst, 0, -1), List.of(new Tuple("c", 3.0), new Tuple("a", 11.0)));
    }

    static List<Object> entries(List<StreamEntry> es) {
        List<Object> out = new ArrayList<>();
        for (StreamEntry e : es) {
            out.add(List.of(e.getID(), e.getFields()));
        }
        return out;
    }

    static void streams(JedisCluster c, Checks t, String p) {
        String k = p + ":x";
        List<StreamEntryID> ids = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            ids.add(c.xadd(k, StreamEntryID.NEW_ENTRY, Map.of("n", String.valueOf(i))));
        }
        List<Object> want = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            want.add(List.of(ids.get(i), Map.of("n", String.valueOf(i))));
        }
        t.eq("XRANGE", entries(c.xrange(k, "-", "+")), want);
        t.eq("XRANGE COUNT", c.xrange(k, "-", "+", 1).size(), 1);
        t.eq("XGROUP CREATE", c.xgroupCreate(k, "g", new StreamEntryID(0, 0), false), "OK");
        t.raises("XGROUP CREATE twice", () -> c.xgroupCreate(k, "g", new StreamEntryID(0, 0), false), JedisDataException.class, "BUSYGROUP");
        List<Map.Entry<String, List<StreamEntry>>> read = c.xreadGroup("g", "c1", XReadGroupParams.xReadGroupParams().count(2),
                Map.of(k, StreamEntryID.XREADGROUP_UNDELIVERED_ENTRY));
        t.eq("XREADGROUP stream", read.get(0).getKey(), k);
        t.eq("XREADGROUP entries", entries(read.get(0).getValue()), want.subList(0, 2));
        t.eq("XACK", c.xack(k, "g", ids.get(0)), 1L);
        StreamPendingSummary sum = c.xpending(k, "g");
        t.eq("XPENDING summary", List.of(sum.getTotal(), sum.getMinId(), sum.getMaxId(), sum.getConsumerMessageCount()),
                List.of(1L, ids.get(1), ids.get(1), Map.of("c1", 1L)));
        Map.Entry<StreamEntryID, List<StreamEntry>> claimed = c.xautoclaim(k, "g", "c2", 0, new StreamEntryID(0, 0), new XAutoClaimParams());
        t.eq("XAUTOCLAIM next id", claimed.getKey(), new StreamEntryID(0, 0));
        t.eq("XAUTOCLAIM entries", entries(claimed.getValue()), want.subList(1, 2));
    }

    static void bitmaps(JedisCluster c, Checks t, String p) {
        String k = p + ":bits";
        t.eq("SETBIT", c.setbit(k, 7, true), false);
        t.eq("SETBIT again", c.setbit(k, 7, true), true);
        t.eq("GETBIT", c.getbit(k, 7), true);
        t.eq("BITCOUNT", c.bitcount(k), 1L);
        c.set(p + ":fb", "foobar");
        t.eq("BITCOUNT foobar", c.bitcount(p + ":fb"), 26L);
        t.eq("BITCOUNT range", c.bitcount(p + ":fb", 1, 1), 6L);
        String h1 = "{" + p + "}:h1", h2 = "{" + p + "}:h2";
        t.eq("PFADD", c.pfadd(h1, "a", "b", "c"), 1L);
        t.eq("PFADD no change", c.pfadd(h1, "a"), 0L);
        t.eq("PFCOUNT", c.pfcount(h1), 3L);
        c.pfadd(h2, "c", "d");
        t.eq("PFCOUNT union with a hash tag", c.pfcount(h1, h2), 4L);
    }

    static void blocking(JedisCluster c, Checks t, String p) throws Exception {
        String k = p + ":q";
        t.eq("BLPOP timeout on an empty list", c.blpop(0.1, k), null);
        try (JedisCluster pusher = connect()) {
            CompletableFuture<Long> pushed = CompletableFuture.supplyAsync(() -> {
                try {
                    Thread.sleep(200);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                return pusher.rpush(k, "job");
            });
            KeyValue<String, String> popped = c.blpop(5.0, k);
            t.eq("RPUSH from another client", pushed.get(5, TimeUnit.SECONDS), 1L);
            t.eq("BLPOP woken by the push", popped == null ? null : List.of(popped.getKey(), popped.getValue()), List.of(k, "job"));
        }
    }

    static void transactions(JedisCluster c, Checks t, String p) throws Exception {
        String tag = "{" + p + "}", a = tag + ":a", n = tag + ":n";
        // JedisCluster has no multi(): a transaction runs on the connection of its keys' slot.
        try (Jedis j = new Jedis(c.getConnectionFromSlot(JedisClusterCRC16.getSlot(a)))) {
            Transaction tx = j.multi();
            tx.set(a, "1");
            tx.incr(a);
            tx.get(a);
            t.eq("multi() set incr get exec()", tx.exec(), List.of("OK", 2L, "2"));
            tx = j.multi();
            tx.incr(a);
            tx.lpush(a, "x");
            List<Object> mixed = tx.exec();
            t.eq("INCR inside EXEC", mixed.get(0), 3L);
            t.ok("WRONGTYPE inside EXEC, the rest applied", mixed.get(1) instanceof JedisDataException
                    && ((JedisDataException) mixed.get(1)).getMessage().contains("WRONGTYPE"), mixed);
            // WATCH, read, MULTI, write, EXEC: optimistic locking as Jedis's docs show it.
            c.set(n, "10");
            t.eq("WATCH", j.watch(n), "OK");
            long cur = Long.parseLong(j.get(n));
            tx = j.multi();
            tx.set(n, Long.toString(cur + 1));
            t.eq("EXEC with the watched key unchanged", tx.exec(), List.of("OK"));
            j.watch(n);
            long seen = Long.parseLong(j.get(n));
            try (JedisCluster other = connect()) {
                t.eq("SET from another client", other.set(n, "100"), "OK");
            }
            tx = j.multi();
            tx.set(n, Long.toString(seen + 1));
            t.eq("EXEC after the other client's change", tx.exec(), null);
            t.eq("the other client's change stays", c.get(n), "100");
        }
    }

    static void scripting(JedisCluster c, Checks t, String p) {
        String tag = "{" + p + "}", k1 = tag + ":s1", k2 = tag + ":s2";
        t.eq("EVAL", c.eval("redis.call('SET', KEYS[1], ARGV[1]); return redis.call('INCRBY', KEYS[2], ARGV[2])",
                List.of(k1, k2), List.of("v", "5")), 5L);
        t.eq("GET after EVAL", c.get(k1), "v");
        List<String> keys = List.of(tag + ":c1", tag + ":c2");
        String sha = c.scriptLoad("return {redis.call('INCR', KEYS[1]), redis.call('INCR', KEYS[2])}", keys.get(0));
        t.eq("EVALSHA", c.evalsha(sha, keys, List.of()), List.of(1L, 1L));
        t.eq("SCRIPT EXISTS", c.scriptExists(sha, keys.get(0)), true);
        t.raises("an error inside the script", () -> c.eval("return redis.call('INCR', KEYS[1])", List.of(k1), List.of()),
                JedisDataException.class, "not an integer");
    }

    static void pubsub(JedisCluster c, Checks t, String p) throws Exception {
        String ch = p + ":news", pattern = p + ":ev:*";
        CountDownLatch subscribed = new CountDownLatch(1), psubscribed = new CountDownLatch(1), received = new CountDownLatch(2);
        List<String> got = Collections.synchronizedList(new ArrayList<>());
        JedisPubSub listener = new JedisPubSub() {
            @Override
            public void onSubscribe(String channel, int count) {
                subscribed.countDown();
            }

            @Override
            public void onPSubscribe(String pat, int count) {
                psubscribed.countDown();
            }

            @Override
            public void onMessage(String channel, String message) {
                got.add("message " + channel + " " + message);
                received.countDown();
            }

            @Override
            public void onPMessage(String pat, String channel, String message) {
                got.add("pmessage " + pat + " " + channel + " " + message);
                received.countDown();
            }
        };
        try (JedisCluster sub = connect()) {
            // subscribe blocks its thread until every subscription ends.
            CompletableFuture<Void> loop = CompletableFuture.runAsync(() -> sub.subscribe(listener, ch));
            t.ok("SUBSCRIBE confirmed", subscribed.await(5, TimeUnit.SECONDS), ch);
            listener.psubscribe(pattern);
            t.ok("PSUBSCRIBE confirmed", psubscribed.await(5, TimeUnit.SECONDS), pattern);
            // PUBLISH counts the receivers of the node it went to, as in Redis Cluster; the
            // message reaches the subscriber whichever node that is.
            c.publish(ch, "hello");
            c.publish(p + ":ev:1", "world");
            t.ok("messages received", received.await(5, TimeUnit.SECONDS), got);
            listener.punsubscribe();
            listener.unsubscribe();
            loop.get(5, TimeUnit.SECONDS);
        }
        List<String> sorted = new ArrayList<>(got);
        Collections.sort(sorted);
        t.eq("messages", sorted, List.of("message " + ch + " hello", "pmessage " + pattern + " " + p + ":ev:1 world"));
    }

    public static void main(String[] args) {
        if (args.length != 2) {
            System.err.println("usage: java -cp 'DIR/lib/*' ClientCompat.java HOST:PORT SECTION[,SECTION...]");
            System.exit(2);
        }
        seed = HostAndPort.from(args[0]);
        Map<String, Section> sections = new LinkedHashMap<>();
        sections.put("strings", ClientCompat::strings);
        sections.put("keys", ClientCompat::keys);
        sections.put("hashes", ClientCompat::hashes);
        sections.put("lists", ClientCompat::lists);
        sections.put("sets", ClientCompat::sets);
        sections.put("sortedsets", ClientCompat::sortedsets);
        sections.put("streams", ClientCompat::streams);
        sections.put("bitmaps", ClientCompat::bitmaps);
        sections.put("blocking", ClientCompat::blocking);
        sections.put("transactions", ClientCompat::transactions);
        sections.put("scripting", ClientCompat::scripting);
        sections.put("pubsub", ClientCompat::pubsub);
        String run = Integer.toString(new Random().nextInt(1 << 30), 36);
        int failed = 0;
        try (JedisCluster c = connect()) {
            for (String name : args[1].split(",")) {
                Section s = sections.get(name);
                if (s == null) {
                    System.out.println("FAIL " + name + ": no such section");
                    failed++;
                    continue;
                }
                Checks t = new Checks();
                long start = System.nanoTime();
                try {
                    s.run(c, t, "cc:" + run + ":" + name);
                    System.out.printf("PASS %s (%d checks, %dms)%n", name, t.n, (System.nanoTime() - start) / 1_000_000);
                } catch (Throwable e) {
                    failed++;
                    System.out.println("FAIL " + name + ": " + e);
                }
            }
        }
        System.out.flush();
        System.exit(failed > 0 ? 1 : 0);
    }
}
