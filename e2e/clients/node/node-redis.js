'use strict';
// node-redis's createCluster against an insight grid, each section written the way node-redis's
// README and command signatures show it (camelCase commands, option objects, RESP3 by default).
// See harness.js for the command line.
const { createCluster } = require('redis');
const { run, sleep } = require('./harness');

// plain turns a reply's object (node-redis builds some without a prototype) into a plain one.
const plain = (o) => (o === null ? o : { ...o });

const sections = {
  async strings(c, t, p) {
    t.eq('SET', await c.set(`${p}:s`, 'hello'), 'OK');
    t.eq('GET', await c.get(`${p}:s`), 'hello');
    t.eq('GET missing', await c.get(`${p}:missing`), null);
    t.eq('INCR', await c.incr(`${p}:n`), 1);
    t.eq('INCRBY', await c.incrBy(`${p}:n`, 41), 42);
    t.eq('GETEX EX', await c.getEx(`${p}:s`, { type: 'EX', value: 100 }), 'hello');
    const ttl = await c.ttl(`${p}:s`);
    t.ok('TTL after GETEX EX 100', ttl > 0 && ttl <= 100, ttl);
    t.eq('SETRANGE past the end', await c.setRange(`${p}:s`, 6, 'world'), 11);
    t.eq('GET after SETRANGE', await c.get(`${p}:s`), 'hello\0world');
    t.eq('GETDEL', await c.getDel(`${p}:s`), 'hello\0world');
    t.eq('GET after GETDEL', await c.get(`${p}:s`), null);
    const tag = `{${p}}`;
    t.eq('MSET with a hash tag', await c.mSet({ [`${tag}:a`]: '1', [`${tag}:b`]: '2' }), 'OK');
    t.eq('MGET with a hash tag', await c.mGet([`${tag}:a`, `${tag}:b`, `${tag}:c`]), ['1', '2', null]);
    // node-redis splits a multi-key command by slot and sends each part to its own node.
    t.eq('MSET across slots, split by the client', await c.mSet([[`${p}:x1`, '1'], [`${p}:y2`, '2']]), 'OK');
    t.eq('MGET across slots, split by the client', await c.mGet([`${p}:x1`, `${p}:y2`]), ['1', '2']);
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
    const kept = await c.ttl(`${tag}:k2`);
    t.ok('RENAME keeps the TTL', kept > 0, kept);
    t.eq('COPY', await c.copy(`${tag}:k2`, `${tag}:k3`), 1);
    t.eq('COPY onto an existing key', await c.copy(`${tag}:k2`, `${tag}:k3`), 0);
    t.eq('COPY REPLACE', await c.copy(`${tag}:k2`, `${tag}:k3`, { REPLACE: true }), 1);
    t.eq('GET the copy', await c.get(`${tag}:k3`), 'v');
    t.eq('PERSIST', await c.persist(`${tag}:k3`), 1);
    t.eq('TTL after PERSIST', await c.ttl(`${tag}:k3`), -1);
    t.eq('TYPE', await c.type(`${tag}:k3`), 'string');
    // SCAN is per node: scan every master through its own client.
    for (let i = 0; i < 60; i++) await c.set(`${p}:scan:${i}`, String(i));
    const seen = new Set();
    let holding = 0;
    for (const master of c.masters) {
      const node = await c.nodeClient(master);
      let cursor = '0', found = 0;
      do {
        const reply = await node.scan(cursor, { MATCH: `${p}:scan:*`, COUNT: 100 });
        cursor = String(reply.cursor);
        found += reply.keys.length;
        reply.keys.forEach((k) => seen.add(k));
      } while (cursor !== '0');
      if (found > 0) holding++;
    }
    t.eq('SCAN over every master', seen.size, 60);
    t.ok('keys spread over more than one master', holding > 1, holding);
  },

  async hashes(c, t, p) {
    const k = `${p}:h`;
    t.eq('HSET object', await c.hSet(k, { name: 'ada', year: '1815' }), 2);
    t.eq('HSET field value', await c.hSet(k, 'name', 'lovelace'), 0);
    t.eq('HGETALL', plain(await c.hGetAll(k)), { name: 'lovelace', year: '1815' });
    t.eq('HINCRBY', await c.hIncrBy(k, 'year', 10), 1825);
    t.eq('HINCRBY negative', await c.hIncrBy(k, 'visits', -2), -2);
    await t.rejects('HINCRBY on a non-integer', () => c.hIncrBy(k, 'name', 1), /not an integer/);
    const big = `${p}:big`;
    const fields = {};
    for (let i = 0; i < 200; i++) fields[`f${i}`] = `v${i}`;
    await c.hSet(big, fields);
    const got = {};
    let cursor = '0';
    do {
      const reply = await c.hScan(big, cursor, { COUNT: 50 });
      cursor = String(reply.cursor);
      for (const { field, value } of reply.entries) got[field] = value;
    } while (cursor !== '0');
    t.eq('HSCAN visits every field', got, fields);
    t.eq('HGETALL missing', plain(await c.hGetAll(`${p}:missing`)), {});
  },

  async lists(c, t, p) {
    const k = `{${p}}:l`, dst = `{${p}}:dst`;
    t.eq('RPUSH', await c.rPush(k, ['a', 'b', 'c']), 3);
    t.eq('LPUSH', await c.lPush(k, 'z'), 4);
    t.eq('LRANGE', await c.lRange(k, 0, -1), ['z', 'a', 'b', 'c']);
    t.eq('LPOP count', await c.lPopCount(k, 2), ['z', 'a']);
    t.eq('RPUSH again', await c.rPush(k, 'b'), 3);
    t.eq('LPOS', await c.lPos(k, 'c'), 1);
    t.eq('LPOS RANK 2', await c.lPos(k, 'b', { RANK: 2 }), 2);
    t.eq('LPOS missing', await c.lPos(k, 'nope'), null);
    t.eq('LMOVE LEFT RIGHT', await c.lMove(k, dst, 'LEFT', 'RIGHT'), 'b');
    t.eq('LMOVE RIGHT LEFT', await c.lMove(k, dst, 'RIGHT', 'LEFT'), 'b');
    t.eq('LRANGE destination', await c.lRange(dst, 0, -1), ['b', 'b']);
    t.eq('LRANGE source', await c.lRange(k, 0, -1), ['c']);
    t.eq('LPOP count on a missing key', await c.lPopCount(`${p}:missing`, 2), null);
  },

  async sets(c, t, p) {
    const a = `{${p}}:a`, b = `{${p}}:b`;
    t.eq('SADD', await c.sAdd(a, ['w', 'x', 'y', 'z']), 4);
    t.eq('SADD again', await c.sAdd(b, ['y', 'z', 'q', 'y']), 3);
    t.eq('SMEMBERS', [...(await c.sMembers(a))].sort(), ['w', 'x', 'y', 'z']);
    t.eq('SINTERCARD', await c.sInterCard([a, b]), 2);
    t.eq('SINTERCARD LIMIT', await c.sInterCard([a, b], { LIMIT: 1 }), 1);
    const big = `${p}:big`, members = [];
    for (let i = 0; i < 300; i++) members.push(`m${i}`);
    await c.sAdd(big, members);
    const seen = new Set();
    let cursor = '0';
    do {
      const reply = await c.sScan(big, cursor, { COUNT: 50 });
      cursor = String(reply.cursor);
      reply.members.forEach((m) => seen.add(m));
    } while (cursor !== '0');
    t.eq('SSCAN visits every member', [...seen].sort(), [...members].sort());
    const one = await c.sPop(b);
    t.ok('SPOP', ['y', 'z', 'q'].includes(one), one);
    t.eq('SPOP count', (await c.sPopCount(b, 5)).length, 2);
    t.eq('EXISTS after the last SPOP', await c.exists(b), 0);
  },

  async sortedsets(c, t, p) {
    const k = `{${p}}:z`, dst = `{${p}}:dst`;
    t.eq('ZADD', await c.zAdd(k, [{ score: 1, value: 'a' }, { score: 2, value: 'b' }, { score: 3, value: 'c' }]), 3);
    t.eq('ZRANGE BYSCORE', await c.zRange(k, 2, 3, { BY: 'SCORE' }), ['b', 'c']);
    t.eq('ZRANGE BYSCORE exclusive LIMIT',
      await c.zRange(k, '(1', '+inf', { BY: 'SCORE', LIMIT: { offset: 0, count: 1 } }), ['b']);
    t.eq('ZINCRBY', await c.zIncrBy(k, 10, 'a'), 11);
    t.eq('ZRANK', await c.zRank(k, 'a'), 2);
    t.eq('ZRANK missing', await c.zRank(k, 'nope'), null);
    t.eq('ZPOPMIN', plain(await c.zPopMin(k)), { value: 'b', score: 2 });
    t.eq('ZRANGESTORE', await c.zRangeStore(dst, k, 0, -1), 2);
    t.eq('ZRANGE WITHSCORES', (await c.zRangeWithScores(dst, 0, -1)).map(plain),
      [{ value: 'c', score: 3 }, { value: 'a', score: 11 }]);
  },

  async streams(c, t, p) {
    const k = `${p}:x`;
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push(await c.xAdd(k, '*', { n: String(i) }));
    const entries = (r) => r.map(({ id, message }) => [id, plain(message)]);
    t.eq('XRANGE', entries(await c.xRange(k, '-', '+')), ids.map((id, i) => [id, { n: String(i) }]));
    t.eq('XRANGE COUNT', (await c.xRange(k, '-', '+', { COUNT: 1 })).length, 1);
    t.eq('XGROUP CREATE', await c.xGroupCreate(k, 'g', '0'), 'OK');
    await t.rejects('XGROUP CREATE twice', () => c.xGroupCreate(k, 'g', '0'), /BUSYGROUP/);
    const read = await c.xReadGroup('g', 'c1', { key: k, id: '>' }, { COUNT: 2 });
    // RESP3 answers a map of stream name to entries, RESP2 a list of { name, messages }.
    const messages = Array.isArray(read) ? read[0].messages : Object.values(plain(read))[0];
    t.eq('XREADGROUP', entries(messages), [[ids[0], { n: '0' }], [ids[1], { n: '1' }]]);
    t.eq('XACK', await c.xAck(k, 'g', ids[0]), 1);
    const pending = await c.xPending(k, 'g');
    t.eq('XPENDING summary', [pending.pending, pending.firstId, pending.lastId, pending.consumers.map(plain)],
      [1, ids[1], ids[1], [{ name: 'c1', deliveriesCounter: 1 }]]);
    const claimed = await c.xAutoClaim(k, 'g', 'c2', 0, '0-0');
    t.eq('XAUTOCLAIM', [claimed.nextId, entries(claimed.messages), claimed.deletedMessages],
      ['0-0', [[ids[1], { n: '1' }]], []]);
  },

  async bitmaps(c, t, p) {
    const k = `${p}:bits`;
    t.eq('SETBIT', await c.setBit(k, 7, 1), 0);
    t.eq('SETBIT again', await c.setBit(k, 7, 1), 1);
    t.eq('GETBIT', await c.getBit(k, 7), 1);
    t.eq('BITCOUNT', await c.bitCount(k), 1);
    await c.set(`${p}:fb`, 'foobar');
    t.eq('BITCOUNT foobar', await c.bitCount(`${p}:fb`), 26);
    t.eq('BITCOUNT range', await c.bitCount(`${p}:fb`, { start: 1, end: 1 }), 6);
    const h1 = `{${p}}:h1`, h2 = `{${p}}:h2`;
    t.eq('PFADD', await c.pfAdd(h1, ['a', 'b', 'c']), 1);
    t.eq('PFADD no change', await c.pfAdd(h1, 'a'), 0);
    t.eq('PFCOUNT', await c.pfCount(h1), 3);
    await c.pfAdd(h2, ['c', 'd']);
    t.eq('PFCOUNT union with a hash tag', await c.pfCount([h1, h2]), 4);
  },

  async blocking(c, t, p, env) {
    const k = `${p}:q`;
    t.eq('BLPOP timeout on an empty list', await c.blPop(k, 0.1), null);
    const pusher = await env.connect();
    try {
      const popped = c.blPop(k, 5);
      await sleep(200);
      t.eq('RPUSH from another client', await pusher.rPush(k, 'job'), 1);
      t.eq('BLPOP woken by the push', plain(await popped), { key: k, element: 'job' });
    } finally {
      await env.close(pusher);
    }
  },

  async transactions(c, t, p, env) {
    const tag = `{${p}}`, a = `${tag}:a`, n = `${tag}:n`;
    t.eq('multi().set().incr().exec()', await c.multi().set(a, '1').incr(a).get(a).exec(), ['OK', 2, '2']);
    let failed;
    try { await c.multi().incr(a).lPush(a, 'x').exec(); } catch (e) { failed = e; }
    t.ok('WRONGTYPE inside EXEC, the rest applied', failed && failed.replies && failed.replies[0] === 3 &&
      failed.errorIndexes.length === 1 && /WRONGTYPE/.test(String(failed.replies[1])), failed);
    t.eq('execAsPipeline', await c.multi().incr(a).get(a).execAsPipeline(), [4, '4']);
    // WATCH, read, MULTI, write, EXEC on the key's node client, as node-redis's docs show.
    await c.set(n, '10');
    const node = await c.getNodeClientForKey(n);
    t.eq('WATCH', await node.watch(n), 'OK');
    const cur = Number(await node.get(n));
    t.eq('EXEC with the watched key unchanged', await node.multi().set(n, String(cur + 1)).exec(), ['OK']);
    const other = await env.connect();
    try {
      await node.watch(n);
      const seen = Number(await node.get(n));
      t.eq('SET from another client', await other.set(n, '100'), 'OK');
      await t.rejects('EXEC after the other client\'s change', () => node.multi().set(n, String(seen + 1)).exec(), /watched keys has been changed/);
      t.eq('the other client\'s change stays', await c.get(n), '100');
    } finally {
      await env.close(other);
    }
  },

  async scripting(c, t, p) {
    const tag = `{${p}}`, k1 = `${tag}:s1`, k2 = `${tag}:s2`;
    t.eq('EVAL', await c.eval("redis.call('SET', KEYS[1], ARGV[1]); return redis.call('INCRBY', KEYS[2], ARGV[2])",
      { keys: [k1, k2], arguments: ['v', '5'] }), 5);
    t.eq('GET after EVAL', await c.get(k1), 'v');
    const script = "return {redis.call('INCR', KEYS[1]), redis.call('INCR', KEYS[2])}";
    const keys = [`${tag}:c1`, `${tag}:c2`];
    await t.rejects('EVALSHA before SCRIPT LOAD', () => c.evalSha('e0e1f9fabfc9d4800c877a703b823ac0578ff8db', { keys }), /NOSCRIPT/);
    const node = await c.getNodeClientForKey(keys[0]);
    const sha = await node.scriptLoad(script);
    t.eq('SCRIPT LOAD', sha.length, 40);
    t.eq('EVALSHA', await c.evalSha(sha, { keys }), [1, 1]);
    await t.rejects('an error inside the script', () => c.eval("return redis.call('INCR', KEYS[1])", { keys: [k1] }), /not an integer/);
  },

  async pubsub(c, t, p, env) {
    const ch = `${p}:news`, pattern = `${p}:ev:*`;
    const sub = await env.connect();
    const within = (what, promise) => Promise.race([promise,
      sleep(5000).then(() => { throw new Error(`${what}: nothing in 5s`); })]);
    try {
      let onMessage, onPMessage;
      const message = new Promise((resolve) => { onMessage = resolve; });
      const pmessage = new Promise((resolve) => { onPMessage = resolve; });
      await sub.subscribe(ch, (msg, channel) => onMessage([channel, msg]));
      await sub.pSubscribe(pattern, (msg, channel) => onPMessage([channel, msg]));
      // PUBLISH counts the receivers of the node it went to, as in Redis Cluster; the
      // message reaches the subscriber whichever node that is.
      await c.publish(ch, 'hello');
      await c.publish(`${p}:ev:1`, 'world');
      t.eq('message received', await within('message', message), [ch, 'hello']);
      t.eq('pattern message received', await within('pmessage', pmessage), [`${p}:ev:1`, 'world']);
    } finally {
      await env.close(sub);
    }
  },
};

async function connect(host, port) {
  const cluster = createCluster({ rootNodes: [{ url: `redis://${host}:${port}` }] });
  cluster.on('error', (err) => console.error('node-redis:', err.message));
  await cluster.connect();
  return cluster;
}

run(sections, connect, (c) => c.close());
