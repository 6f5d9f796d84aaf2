'use strict';
// ioredis's Redis.Cluster against an insight grid, each section written the way ioredis's README
// shows its commands. See harness.js for the command line.
const Redis = require('ioredis');
const { run, sleep } = require('./harness');

const sections = {
  async strings(c, t, p) {
    t.eq('SET', await c.set(`${p}:s`, 'hello'), 'OK');
    t.eq('GET', await c.get(`${p}:s`), 'hello');
    t.eq('GET missing', await c.get(`${p}:missing`), null);
    t.eq('INCR', await c.incr(`${p}:n`), 1);
    t.eq('INCRBY', await c.incrby(`${p}:n`, 41), 42);
    t.eq('GETEX EX', await c.getex(`${p}:s`, 'EX', 100), 'hello');
    const ttl = await c.ttl(`${p}:s`);
    t.ok('TTL after GETEX EX 100', ttl > 0 && ttl <= 100, ttl);
    t.eq('SETRANGE past the end', await c.setrange(`${p}:s`, 6, 'world'), 11);
    t.eq('GET after SETRANGE', await c.get(`${p}:s`), 'hello\0world');
    t.eq('GETDEL', await c.getdel(`${p}:s`), 'hello\0world');
    t.eq('GET after GETDEL', await c.get(`${p}:s`), null);
    const tag = `{${p}}`;
    t.eq('MSET with a hash tag', await c.mset({ [`${tag}:a`]: '1', [`${tag}:b`]: '2' }), 'OK');
    t.eq('MGET with a hash tag', await c.mget(`${tag}:a`, `${tag}:b`, `${tag}:c`), ['1', '2', null]);
    await t.rejects('MSET across slots', () => c.mset(`${p}:x1`, '1', `${p}:y2`, '2'), /CROSSSLOT/);
  },

  async keys(c, t, p) {
    const tag = `{${p}}`;
    await c.set(`${tag}:k`, 'v');
    t.eq('EXPIRE', await c.expire(`${tag}:k`, 100), 1);
    t.eq('EXPIRE NX on a volatile key', await c.expire(`${tag}:k`, 50, 'NX'), 0);
    const ttl = await c.ttl(`${tag}:k`);
    t.ok('TTL', ttl > 0 && ttl <= 100, ttl);
    t.eq('TTL missing', await c.ttl(`${tag}:none`), -2);
    t.eq('RENAME', await c.rename(`${tag}:k`, `${tag}:k2`), 'OK');
    t.eq('EXISTS renamed-away key', await c.exists(`${tag}:k`), 0);
    t.ok('RENAME keeps the TTL', (await c.ttl(`${tag}:k2`)) > 0, await c.ttl(`${tag}:k2`));
    t.eq('COPY', await c.copy(`${tag}:k2`, `${tag}:k3`), 1);
    t.eq('COPY onto an existing key', await c.copy(`${tag}:k2`, `${tag}:k3`), 0);
    t.eq('COPY REPLACE', await c.copy(`${tag}:k2`, `${tag}:k3`, 'REPLACE'), 1);
    t.eq('GET the copy', await c.get(`${tag}:k3`), 'v');
    t.eq('PERSIST', await c.persist(`${tag}:k3`), 1);
    t.eq('TTL after PERSIST', await c.ttl(`${tag}:k3`), -1);
    t.eq('TYPE', await c.type(`${tag}:k3`), 'string');
    // SCAN is per node: keys without a common tag spread over the masters, and scanning
    // every master finds each exactly once.
    for (let i = 0; i < 60; i++) await c.set(`${p}:scan:${i}`, i);
    const masters = c.nodes('master');
    const seen = new Set();
    let holding = 0;
    for (const node of masters) {
      let cursor = '0', found = 0;
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', `${p}:scan:*`, 'COUNT', 100);
        cursor = next;
        found += keys.length;
        keys.forEach((k) => seen.add(k));
      } while (cursor !== '0');
      if (found > 0) holding++;
    }
    t.eq('SCAN over every master', seen.size, 60);
    t.ok('keys spread over more than one master', holding > 1, holding);
  },

  async hashes(c, t, p) {
    const k = `${p}:h`;
    t.eq('HSET object', await c.hset(k, { name: 'ada', year: '1815' }), 2);
    t.eq('HSET field value', await c.hset(k, 'name', 'lovelace'), 0);
    t.eq('HGETALL', await c.hgetall(k), { name: 'lovelace', year: '1815' });
    t.eq('HINCRBY', await c.hincrby(k, 'year', 10), 1825);
    t.eq('HINCRBY negative', await c.hincrby(k, 'visits', -2), -2);
    await t.rejects('HINCRBY on a non-integer', () => c.hincrby(k, 'name', 1), /not an integer/);
    const big = `${p}:big`;
    const fields = {};
    for (let i = 0; i < 200; i++) fields[`f${i}`] = `v${i}`;
    await c.hset(big, fields);
    const got = {};
    let cursor = '0';
    do {
      const [next, flat] = await c.hscan(big, cursor, 'COUNT', 50);
      cursor = next;
      for (let i = 0; i < flat.length; i += 2) got[flat[i]] = flat[i + 1];
    } while (cursor !== '0');
    t.eq('HSCAN visits every field', got, fields);
    t.eq('HGETALL missing', await c.hgetall(`${p}:missing`), {});
  },

  async lists(c, t, p) {
    const k = `{${p}}:l`, dst = `{${p}}:dst`;
    t.eq('RPUSH', await c.rpush(k, 'a', 'b', 'c'), 3);
    t.eq('LPUSH', await c.lpush(k, 'z'), 4);
    t.eq('LRANGE', await c.lrange(k, 0, -1), ['z', 'a', 'b', 'c']);
    t.eq('LPOP count', await c.lpop(k, 2), ['z', 'a']);
    t.eq('RPUSH again', await c.rpush(k, 'b'), 3);
    t.eq('LPOS', await c.lpos(k, 'c'), 1);
    t.eq('LPOS RANK 2', await c.lpos(k, 'b', 'RANK', 2), 2);
    t.eq('LPOS missing', await c.lpos(k, 'nope'), null);
    t.eq('LMOVE LEFT RIGHT', await c.lmove(k, dst, 'LEFT', 'RIGHT'), 'b');
    t.eq('LMOVE RIGHT LEFT', await c.lmove(k, dst, 'RIGHT', 'LEFT'), 'b');
    t.eq('LRANGE destination', await c.lrange(dst, 0, -1), ['b', 'b']);
    t.eq('LRANGE source', await c.lrange(k, 0, -1), ['c']);
    t.eq('LPOP count on a missing key', await c.lpop(`${p}:missing`, 2), null);
  },

  async sets(c, t, p) {
    const a = `{${p}}:a`, b = `{${p}}:b`;
    t.eq('SADD', await c.sadd(a, 'w', 'x', 'y', 'z'), 4);
    t.eq('SADD again', await c.sadd(b, 'y', 'z', 'q', 'y'), 3);
    t.eq('SMEMBERS', (await c.smembers(a)).sort(), ['w', 'x', 'y', 'z']);
    t.eq('SINTERCARD', await c.sintercard(2, a, b), 2);
    t.eq('SINTERCARD LIMIT', await c.sintercard(2, a, b, 'LIMIT', 1), 1);
    const big = `${p}:big`, members = [];
    for (let i = 0; i < 300; i++) members.push(`m${i}`);
    await c.sadd(big, ...members);
    const seen = new Set();
    let cursor = '0';
    do {
      const [next, batch] = await c.sscan(big, cursor, 'COUNT', 50);
      cursor = next;
      batch.forEach((m) => seen.add(m));
    } while (cursor !== '0');
    t.eq('SSCAN visits every member', [...seen].sort(), [...members].sort());
    const one = await c.spop(b);
    t.ok('SPOP', ['y', 'z', 'q'].includes(one), one);
    t.eq('SPOP count', (await c.spop(b, 5)).length, 2);
    t.eq('EXISTS after the last SPOP', await c.exists(b), 0);
  },

  async sortedsets(c, t, p) {
    const k = `{${p}}:z`, dst = `{${p}}:dst`;
    t.eq('ZADD', await c.zadd(k, 1, 'a', 2, 'b', 3, 'c'), 3);
    t.eq('ZRANGE BYSCORE', await c.zrange(k, 2, 3, 'BYSCORE'), ['b', 'c']);
    t.eq('ZRANGE BYSCORE exclusive LIMIT', await c.zrange(k, '(1', '+inf', 'BYSCORE', 'LIMIT', 0, 1), ['b']);
    t.eq('ZINCRBY', await c.zincrby(k, 10, 'a'), '11');
    t.eq('ZRANK', await c.zrank(k, 'a'), 2);
    t.eq('ZRANK missing', await c.zrank(k, 'nope'), null);
    t.eq('ZPOPMIN', await c.zpopmin(k), ['b', '2']);
    t.eq('ZRANGESTORE', await c.zrangestore(dst, k, 0, -1), 2);
    t.eq('ZRANGE WITHSCORES', await c.zrange(dst, 0, -1, 'WITHSCORES'), ['c', '3', 'a', '11']);
  },

  async streams(c, t, p) {
    const k = `${p}:x`;
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push(await c.xadd(k, '*', 'n', String(i)));
    t.ok('XADD ids grow', ids[0] < ids[1] || ids[0].length < ids[1].length, ids);
    t.eq('XRANGE', await c.xrange(k, '-', '+'), ids.map((id, i) => [id, ['n', String(i)]]));
    t.eq('XRANGE COUNT', (await c.xrange(k, '-', '+', 'COUNT', 1)).length, 1);
    t.eq('XGROUP CREATE', await c.xgroup('CREATE', k, 'g', '0'), 'OK');
    await t.rejects('XGROUP CREATE twice', () => c.xgroup('CREATE', k, 'g', '0'), /BUSYGROUP/);
    t.eq('XREADGROUP', await c.xreadgroup('GROUP', 'g', 'c1', 'COUNT', 2, 'STREAMS', k, '>'),
      [[k, [[ids[0], ['n', '0']], [ids[1], ['n', '1']]]]]);
    t.eq('XACK', await c.xack(k, 'g', ids[0]), 1);
    t.eq('XPENDING summary', await c.xpending(k, 'g'), [1, ids[1], ids[1], [['c1', '1']]]);
    t.eq('XAUTOCLAIM', await c.xautoclaim(k, 'g', 'c2', 0, '0-0'), ['0-0', [[ids[1], ['n', '1']]], []]);
    t.eq('XPENDING after XAUTOCLAIM', await c.xpending(k, 'g'), [1, ids[1], ids[1], [['c2', '1']]]);
  },

  async bitmaps(c, t, p) {
    const k = `${p}:bits`;
    t.eq('SETBIT', await c.setbit(k, 7, 1), 0);
    t.eq('SETBIT again', await c.setbit(k, 7, 1), 1);
    t.eq('GETBIT', await c.getbit(k, 7), 1);
    t.eq('BITCOUNT', await c.bitcount(k), 1);
    await c.set(`${p}:fb`, 'foobar');
    t.eq('BITCOUNT foobar', await c.bitcount(`${p}:fb`), 26);
    t.eq('BITCOUNT range', await c.bitcount(`${p}:fb`, 1, 1), 6);
    const h1 = `{${p}}:h1`, h2 = `{${p}}:h2`;
    t.eq('PFADD', await c.pfadd(h1, 'a', 'b', 'c'), 1);
    t.eq('PFADD no change', await c.pfadd(h1, 'a'), 0);
    t.eq('PFCOUNT', await c.pfcount(h1), 3);
    await c.pfadd(h2, 'c', 'd');
    t.eq('PFCOUNT union with a hash tag', await c.pfcount(h1, h2), 4);
  },

  async blocking(c, t, p, env) {
    const k = `${p}:q`;
    t.eq('BLPOP timeout on an empty list', await c.blpop(k, 0.1), null);
    const pusher = await env.connect();
    try {
      const popped = c.blpop(k, 5);
      await sleep(200);
      t.eq('RPUSH from another client', await pusher.rpush(k, 'job'), 1);
      t.eq('BLPOP woken by the push', await popped, [k, 'job']);
    } finally {
      await env.close(pusher);
    }
  },

  async transactions(c, t, p, env) {
    const tag = `{${p}}`, a = `${tag}:a`, n = `${tag}:n`;
    t.eq('multi().set().incr().exec()', await c.multi().set(a, '1').incr(a).get(a).exec(), [[null, 'OK'], [null, 2], [null, '2']]);
    const mixed = await c.multi().incr(a).lpush(a, 'x').exec();
    t.eq('INCR inside EXEC', mixed[0], [null, 3]);
    t.ok('WRONGTYPE inside EXEC, the rest applied', mixed[1][0] && /WRONGTYPE/.test(mixed[1][0].message), mixed[1]);
    await t.rejects('EXECABORT after a command refused while queuing', () => c.multi().set(a, '1').get(a, 'extra').exec(), /EXECABORT/);
    // Refused by ioredis when the slots are on different nodes, by the server (CROSSSLOT) when on one.
    await t.rejects('a transaction across slots', () => c.multi().set(a, '1').set(`${p}:other`, '2').exec(),
      /same slots allocation group|^CROSSSLOT/);
    // WATCH, read, MULTI, write, EXEC: the optimistic locking ioredis's README shows.
    await c.set(n, '10');
    t.eq('WATCH', await c.watch(n), 'OK');
    const cur = Number(await c.get(n));
    t.eq('EXEC with the watched key unchanged', await c.multi().set(n, String(cur + 1)).exec(), [[null, 'OK']]);
    const other = await env.connect();
    try {
      await c.watch(n);
      const seen = Number(await c.get(n));
      t.eq('SET from another client', await other.set(n, '100'), 'OK');
      t.eq('EXEC after the other client\'s change', await c.multi().set(n, String(seen + 1)).exec(), null);
      t.eq('the other client\'s change stays', await c.get(n), '100');
      // EXEC forgot the watched key: a change now does not abort the next transaction.
      await other.set(n, '200');
      t.eq('EXEC after an aborted one', await c.multi().incr(n).exec(), [[null, 201]]);
    } finally {
      await env.close(other);
    }
  },

  async scripting(c, t, p) {
    const tag = `{${p}}`, k1 = `${tag}:s1`, k2 = `${tag}:s2`;
    t.eq('EVAL', await c.eval("redis.call('SET', KEYS[1], ARGV[1]); return redis.call('INCRBY', KEYS[2], ARGV[2])", 2, k1, k2, 'v', 5), 5);
    t.eq('GET after EVAL', await c.get(k1), 'v');
    // defineCommand sends EVALSHA, and EVAL after NOSCRIPT, as ioredis's README shows.
    c.defineCommand('incrBoth', { numberOfKeys: 2, lua: "return {redis.call('INCR', KEYS[1]), redis.call('INCR', KEYS[2])}" });
    t.eq('defineCommand', await c.incrBoth(`${tag}:c1`, `${tag}:c2`), [1, 1]);
    t.eq('defineCommand again (EVALSHA)', await c.incrBoth(`${tag}:c1`, `${tag}:c2`), [2, 2]);
    await t.rejects('an error inside the script', () => c.eval("return redis.call('INCR', KEYS[1])", 1, k1), /not an integer/);
    await t.rejects('keys of two slots', () => c.eval('return 1', 2, `${p}:x`, `${p}:y`), /CROSSSLOT/);
  },

  async pubsub(c, t, p, env) {
    const ch = `${p}:news`, pattern = `${p}:ev:*`;
    const sub = await env.connect();
    const within = (what, promise) => Promise.race([promise,
      sleep(5000).then(() => { throw new Error(`${what}: nothing in 5s`); })]);
    try {
      const message = new Promise((resolve) => sub.on('message', (channel, msg) => resolve([channel, msg])));
      const pmessage = new Promise((resolve) => sub.on('pmessage', (pat, channel, msg) => resolve([pat, channel, msg])));
      t.eq('SUBSCRIBE', await sub.subscribe(ch), 1);
      t.eq('PSUBSCRIBE', await sub.psubscribe(pattern), 2);
      // PUBLISH counts the receivers of the node it went to, as in Redis Cluster; the
      // message reaches the subscriber whichever node that is.
      await c.publish(ch, 'hello');
      await c.publish(`${p}:ev:1`, 'world');
      t.eq('message received', await within('message', message), [ch, 'hello']);
      t.eq('pattern message received', await within('pmessage', pmessage), [pattern, `${p}:ev:1`, 'world']);
    } finally {
      await env.close(sub);
    }
  },
};

async function connect(host, port) {
  const cluster = new Redis.Cluster([{ host, port }], { clusterRetryStrategy: () => null });
  await new Promise((resolve, reject) => {
    cluster.once('ready', resolve);
    cluster.once('error', reject);
  });
  return cluster;
}

run(sections, connect, (c) => c.quit());
