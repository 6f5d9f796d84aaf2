'use strict';
// The harness shared by ioredis.js and node-redis.js: it runs the sections named on the command
// line against a grid's seed address, prints one line per section (PASS or FAIL) and exits 1 if
// any failed. Usage: node <client>.js HOST:PORT SECTION[,SECTION...]
const util = require('node:util');

// Checks counts the checks of one section and throws on the first mismatch.
class Checks {
  constructor() { this.n = 0; }
  eq(what, got, want) {
    this.n++;
    if (!util.isDeepStrictEqual(got, want)) {
      throw new Error(`${what}: got ${util.inspect(got)}, want ${util.inspect(want)}`);
    }
  }
  ok(what, cond, got) {
    this.n++;
    if (!cond) throw new Error(`${what}: got ${util.inspect(got)}`);
  }
  async rejects(what, fn, re) {
    this.n++;
    let err;
    try { await fn(); } catch (e) { err = e; }
    if (!err || !re.test(String(err.message))) throw new Error(`${what}: want an error matching ${re}, got ${err ? err.message : 'success'}`);
  }
}

// run connects with connect(host, port), runs each named section of sections and closes with
// close(client). A section is async (client, checks, prefix, env) => void, where prefix is unique
// to this run and section, and env.connect opens a second client (for blocking commands).
async function run(sections, connect, close) {
  const [seed, list] = process.argv.slice(2);
  if (!seed || !list) {
    console.error('usage: node <client>.js HOST:PORT SECTION[,SECTION...]');
    process.exit(2);
  }
  const i = seed.lastIndexOf(':');
  const host = seed.slice(0, i), port = Number(seed.slice(i + 1));
  const env = { connect: () => connect(host, port), close };
  const client = await connect(host, port);
  const run = Math.random().toString(36).slice(2, 8);
  let failed = 0;
  for (const name of list.split(',')) {
    const section = sections[name];
    if (!section) {
      console.log(`FAIL ${name}: no such section`);
      failed++;
      continue;
    }
    const checks = new Checks();
    const start = Date.now();
    try {
      await section(client, checks, `cc:${run}:${name}`, env);
      console.log(`PASS ${name} (${checks.n} checks, ${Date.now() - start}ms)`);
    } catch (e) {
      failed++;
      console.log(`FAIL ${name}: ${e && e.message ? e.message : e}`);
    }
  }
  await close(client);
  process.exit(failed ? 1 : 0);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

module.exports = { run, sleep };
