// The settings table (one setting, one entry). Each entry holds the key, CLI flag,
// env name, TypeBox schema (type, default, bounds), one-line help and longer doc. The CLI parser,
// env and option validation, the Config type, `--help` and docs/settings.md are generated from it
// (resolve.ts, help.ts, settings-doc.ts). To add a setting, add an entry here, rebuild, and run
// `node dist/lib/config/write-settings-doc.js`; test/unit/config/settings-doc.test.mjs fails until then.
//
// Below the table are the validators its entries use (bind addresses, APP specs) and the
// describers that turn a schema into words for error messages, --help and the docs.
import { accessSync, constants, statSync } from 'node:fs';
import { isIPv4, isIPv6 } from 'node:net';
import { availableParallelism } from 'node:os';
import { KindGuard, Type, type Static, type TSchema } from '@sinclair/typebox';
import { globProblem } from '../glob.js';
import { ConfigError } from '../errors.js';
import { allowIpsProblem } from './allow-ips.js';
import { stickyProblem } from './sticky-mode.js';

export const SECTIONS = ['Application', 'Listening', 'TLS', 'Proxies and headers', 'Concurrency', 'Request limits', 'Timeouts', 'Logging', 'Health and metrics', 'Development'] as const;
export type Section = (typeof SECTIONS)[number];

export interface SettingSpec<K extends string = string, S extends TSchema = TSchema> {
  /** camelCase key: the library option name and the Config property */
  readonly key: K;
  readonly section: Section;
  /** long CLI flag (`--threads`); null for the positional APP argument */
  readonly flag: string | null;
  /** short CLI flag (`-t`) */
  readonly short?: string;
  /** `GREENSERVE_<UPPER_SNAKE>` */
  readonly env: string;
  /** type, default and bounds; arrays are repeatable flags (and comma-separated in env) */
  readonly schema: S;
  /** the value's name in --help (`INT`, `ADDRESS`) */
  readonly metavar: string;
  /** one line for --help */
  readonly help: string;
  /** the longer text for docs/settings.md */
  readonly doc: string;
  /** the value is a byte count; strings like `64kb` are accepted too */
  readonly size?: boolean;
  /** words for a default that depends on the machine (shown instead of the value) */
  readonly defaultDoc?: string;
  /** words for what is allowed, where the schema alone does not say it */
  readonly allowed?: string;
  /** runs after the schema check (on each item of an array); returns the problem, or null */
  readonly check?: (value: unknown) => string | null;
  /** maps a library option value before validation (for example a URL to its string) */
  readonly fromOption?: (value: unknown) => unknown;
}

/** Identity helper: keeps each entry's key and schema types for Config, and whether it is a byte size (for the option types). */
function setting<const K extends string, S extends TSchema, const Z extends boolean = false>(
  spec: SettingSpec<K, S> & { readonly size?: Z },
): SettingSpec<K, S> & { readonly size?: Z } {
  return spec;
}

const CORES = Math.min(1024, Math.max(1, availableParallelism()));
const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
const INTERFACES = ['auto', 'node', 'fetch'] as const;
const ACCESS_LOG_FORMATS = ['json', 'combined'] as const;
const LOG_FORMATS = ['auto', 'json', 'text'] as const;

export const SETTINGS = [
  setting({
    key: 'app', section: 'Application', flag: null, env: 'GREENSERVE_APP', metavar: 'APP',
    schema: Type.String({ minLength: 1 }),
    allowed: 'a module as PATH or PATH:EXPORT (like ./app.js or ./app.js:handler)',
    help: 'the application module, as PATH or PATH:EXPORT',
    doc: 'The application module: a path or `file:` URL, optionally followed by `:EXPORT` to name the ' +
      'export that holds the handler (like gunicorn\'s `module:app`). The text after the last colon is ' +
      'taken as the export name only when it is a JavaScript identifier, so `file:///srv/app.mjs` and ' +
      '`./app.js` name just a module and `/srv/app.mjs:handler` names a module and an export. Without an ' +
      'export name the default export is used. Required by `serve()`; the `greenserve` command without ' +
      'one serves the built-in notes demo (`examples/notes/`, its database at `demoDb`). The library ' +
      'option may also be a `URL`.',
    check: appProblem,
    fromOption: (v) => (v instanceof URL ? v.href : v),
  }),
  setting({
    key: 'interface', section: 'Application', flag: '--interface', env: 'GREENSERVE_INTERFACE', metavar: 'KIND',
    schema: Type.Union(INTERFACES.map((s) => Type.Literal(s)), { default: 'auto' }),
    help: 'how to call the app\'s export: auto, node (req, res) or fetch (Request → Response)',
    doc: 'How the application\'s export is called (like uvicorn\'s `--interface`). `node`: a `node:http` ' +
      'request listener `(req, res)` (Express, Koa, Connect). `fetch`: a Fetch-style handler ' +
      '`(request) → Response`, or an object with a `fetch` method (Hono). `auto` decides from the export\'s ' +
      'shape: an object with `fetch` or a function of one parameter is `fetch`; a function of two or ' +
      'more parameters, or an object with `callback()` (Koa), is `node`.',
  }),
  setting({
    key: 'config', section: 'Application', flag: '--config', short: '-c', env: 'GREENSERVE_CONFIG', metavar: 'FILE',
    schema: Type.String({ default: '' }),
    defaultDoc: 'none',
    allowed: 'the path of a readable .mjs, .js, .cjs or .json file',
    help: 'read settings from this file (.mjs/.js default export, or .json)',
    doc: 'A config file: a JavaScript module (`.mjs`, `.js`, `.cjs`) whose default export is an object ' +
      'of settings, or a `.json` file holding one. Keys are the camelCase names of this page ' +
      '(`threads`, `bind`, `accessLog`); values are what `serve()` takes (numbers, booleans, lists; a ' +
      'byte size may be a string like `"64kb"`; a list may be a single string). The file sits between ' +
      'the defaults and the environment: `GREENSERVE_*` variables and command-line flags override it. ' +
      'An unknown key is an error that names the key and, when one is close, a valid one; `config` itself ' +
      'cannot be set in the file. Relative paths in the file (the app, TLS files) are taken from the ' +
      'working directory, as on the command line.',
    check: configFileProblem,
  }),
  setting({
    key: 'demoDb', section: 'Application', flag: '--demo-db', env: 'GREENSERVE_DEMO_DB', metavar: 'PATH',
    schema: Type.String({ default: '' }),
    defaultDoc: '`TMPDIR/greenserve-demo-UID/notes.db`',
    allowed: 'a file path in a directory greenserve can create or write',
    help: 'without APP: the SQLite file of the built-in notes demo',
    doc: 'The SQLite database file of the built-in notes demo, which the `greenserve` command serves ' +
      'when no `app` is given (`npx greenserve`). Created when missing, with its directory; the path ' +
      'is printed at start. The default is in the OS temp directory (`os.tmpdir()`: `$TMPDIR`, else ' +
      '`/tmp`), in a directory of the user\'s own (UID: the user id): always writable, and cleaned up ' +
      'with the temp directory. Ignored when ' +
      'an `app` is given (the demo app itself, `examples/notes/app.mjs`, reads `NOTES_DB`). See ' +
      'docs/decisions/0010-demo-app-database.md.',
    check: (v) => (String(v).includes('\0') ? 'must not contain NUL' : null),
  }),
  setting({
    key: 'bind', section: 'Listening', flag: '--bind', short: '-b', env: 'GREENSERVE_BIND', metavar: 'ADDRESS',
    schema: Type.Array(Type.String(), { minItems: 1, default: ['127.0.0.1:8000'] }),
    allowed: 'HOST:PORT, [IPv6]:PORT or unix:PATH',
    help: 'address to listen on: HOST:PORT, [IPv6]:PORT or unix:PATH; repeat for several',
    doc: 'An address to listen on: `HOST:PORT` (a host name or IPv4 address), `[IPv6]:PORT`, or ' +
      '`unix:PATH` for a unix socket. The port is 0 to 65535; 0 picks a free port. Repeat the flag to ' +
      'listen on several addresses; in the environment, separate addresses with commas.',
    check: bindProblem,
  }),
  setting({
    key: 'backlog', section: 'Listening', flag: '--backlog', env: 'GREENSERVE_BACKLOG', metavar: 'INT',
    schema: Type.Integer({ minimum: 1, maximum: 65535, default: 2048 }),
    help: 'listen backlog: connections the kernel queues before they are accepted',
    doc: 'The listen backlog: how many connections the kernel queues before greenserve accepts them. ' +
      'Node\'s own default (511) overflows when many clients connect at once; the kernel may cap the ' +
      'value further (`net.core.somaxconn` on Linux).',
  }),
  setting({
    key: 'connections', section: 'Listening', flag: '--connections', env: 'GREENSERVE_CONNECTIONS', metavar: 'INT',
    schema: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 1000 }),
    help: 'most client connections open at once; accepting pauses at the cap',
    doc: 'The most client connections open at once. At the cap greenserve stops accepting; new ' +
      'connections wait in the listen backlog until one closes.',
  }),
  setting({
    key: 'parent', section: 'Listening', flag: '--parent', env: 'GREENSERVE_PARENT', metavar: 'BOOL',
    schema: Type.Boolean({ default: true }),
    help: 'the greenserve command runs the server in a child process and restarts it if it dies',
    doc: 'The `greenserve` command only (the library\'s `serve()` always serves in its own process). ' +
      'On: a small parent process opens the listening sockets, starts the server (acceptor and ' +
      'worker threads) in a child process and hands them to it, forwards signals to it, and, when ' +
      'the child dies without being asked to stop (a V8 abort, a native crash, the kernel\'s OOM ' +
      'killer), logs why and starts a new one at once: new connections wait in the listen backlog ' +
      'meanwhile instead of being refused. `--no-parent` serves in the one process, as a service ' +
      'manager\'s own restart would then. See docs/signals.md and ' +
      'docs/decisions/0022-supervising-parent.md.',
  }),
  setting({
    key: 'certfile', section: 'TLS', flag: '--certfile', env: 'GREENSERVE_CERTFILE', metavar: 'PATH',
    schema: Type.String({ default: '' }),
    defaultDoc: 'none',
    allowed: 'the path of a readable PEM file',
    help: 'serve HTTPS with this PEM certificate (chain); needs --keyfile',
    doc: 'Serve HTTPS: the PEM file of the server certificate, followed by any intermediate ' +
      'certificates. Needs `keyfile`; both or neither. Every `bind` address then speaks TLS, and ' +
      'apps see `req.socket.encrypted === true` (Express: `req.protocol === \'https\'`). The files are ' +
      'read once at startup; a file that is missing, unreadable or not PEM, or a key that does not ' +
      'match the certificate, stops greenserve with an error that names the setting.',
    check: fileProblem,
  }),
  setting({
    key: 'keyfile', section: 'TLS', flag: '--keyfile', env: 'GREENSERVE_KEYFILE', metavar: 'PATH',
    schema: Type.String({ default: '' }),
    defaultDoc: 'none',
    allowed: 'the path of a readable PEM file',
    help: 'the PEM private key of --certfile',
    doc: 'The PEM file of the private key of `certfile` (unencrypted). Needs `certfile`; both or neither.',
    check: fileProblem,
  }),
  setting({
    key: 'caCerts', section: 'TLS', flag: '--ca-certs', env: 'GREENSERVE_CA_CERTS', metavar: 'PATH',
    schema: Type.String({ default: '' }),
    defaultDoc: 'none',
    allowed: 'the path of a readable PEM file',
    help: 'require client certificates signed by these PEM CA certificates',
    doc: 'Require client certificates (mutual TLS): a PEM file of the CA certificates that may sign ' +
      'them. A client without a certificate, or with one these CAs did not sign, fails the handshake ' +
      'and is never served. Needs `certfile` and `keyfile`.',
    check: fileProblem,
  }),
  setting({
    key: 'forwardedAllowIps', section: 'Proxies and headers', flag: '--forwarded-allow-ips',
    env: 'GREENSERVE_FORWARDED_ALLOW_IPS', metavar: 'ADDRESSES',
    schema: Type.Array(Type.String(), { default: ['127.0.0.1', '::1'] }),
    allowed: 'IP addresses, CIDR networks (IPv4 or IPv6, like 10.0.0.0/8) or *, separated by commas',
    help: 'peers trusted to send X-Forwarded-For/-Proto and Forwarded: IPs, CIDRs or *',
    doc: 'The peers (proxies) whose `X-Forwarded-For`, `X-Forwarded-Proto` and `Forwarded` headers are ' +
      'believed: IP addresses, CIDR networks (IPv4 or IPv6) or `*` for every peer (unix-socket peers ' +
      'included; they are trusted only with `*`). Repeat the flag or separate items with commas; ' +
      '`--forwarded-allow-ips \'\'` trusts no one. An IPv4-mapped peer like `::ffff:127.0.0.1` matches ' +
      '`127.0.0.1`. For a request from a trusted peer the app sees `req.socket.remoteAddress` set to ' +
      'the last `X-Forwarded-For` entry (the address the proxy itself appended; earlier entries came ' +
      'from the client and prove nothing), or else the last `Forwarded: for=`, and ' +
      '`req.socket.encrypted` from `X-Forwarded-Proto` (or `proto=`). Host and every header are left as ' +
      'sent. From other peers the headers are passed through and not used. Like uvicorn\'s and ' +
      'gunicorn\'s setting of the same name; see docs/decisions/0006-tls-and-proxy-headers.md.',
    check: allowIpsProblem,
  }),
  setting({
    key: 'serverHeader', section: 'Proxies and headers', flag: '--server-header', env: 'GREENSERVE_SERVER_HEADER',
    metavar: 'BOOL',
    schema: Type.Boolean({ default: true }),
    help: 'add "Server: greenserve" to responses that do not set their own',
    doc: 'Add `Server: greenserve` (no version) to every response from the app, unless the app sets ' +
      'its own `Server` header (which replaces it) or removes it. `--no-server-header` turns it off, ' +
      'as uvicorn\'s does.',
  }),
  setting({
    key: 'threads', section: 'Concurrency', flag: '--threads', short: '-t', env: 'GREENSERVE_THREADS', metavar: 'INT',
    schema: Type.Integer({ minimum: 1, maximum: 1024, default: CORES }),
    defaultDoc: 'number of available cores',
    help: 'worker threads that run the application',
    doc: 'The number of worker threads. Each imports the application once and runs requests; a ' +
      'synchronous handler that blocks holds only its own thread. The default is the number of ' +
      'available cores (`os.availableParallelism()`).',
  }),
  setting({
    key: 'maxThreads', section: 'Concurrency', flag: '--max-threads', env: 'GREENSERVE_MAX_THREADS', metavar: 'INT',
    schema: Type.Integer({ minimum: 0, maximum: 1024, default: 0 }),
    defaultDoc: '0: by memory, 4 x --threads to 128',
    help: 'most worker threads when every thread is blocked and requests wait (elastic)',
    doc: 'Elastic threads. When requests wait because workers are blocked (parked in a blocking ' +
      'shim such as `sleep` or `fetchSync`, or running one synchronous handler for 20 ms or more; ' +
      'workers that are only full of async requests at `--thread-concurrency` do not count), the ' +
      'supervisor adds workers, up to this many in all: first a pre-warmed spare, kept ready once a ' +
      'worker has been seen blocked, then new ones, one booting per core at a time. An extra ' +
      'worker that has been idle for 30 s is retired. 0 means a ceiling bounded by memory: one ' +
      'thread per 16 MiB of a quarter of the memory the process may use (a container limit where ' +
      'one is set), at least four times `--threads` and at most 128; a value at or below ' +
      '`--threads` turns elasticity (and the spare) off. See docs/shims.md and ' +
      'docs/decisions/0017-elastic-ceiling.md.',
  }),
  setting({
    key: 'threadConcurrency', section: 'Concurrency', flag: '--thread-concurrency',
    env: 'GREENSERVE_THREAD_CONCURRENCY', metavar: 'INT',
    schema: Type.Integer({ minimum: 1, maximum: 10_000, default: 64 }),
    help: 'most requests sent to one worker thread and not yet returned from by its handler',
    doc: 'The most requests sent to one worker thread that its handlers have not returned from yet: ' +
      'the one running and those queued behind it in the thread\'s ring. A synchronous handler runs ' +
      'one request at a time, so this is how many requests can wait behind a handler that turns ' +
      'slow (those it has not started are taken back and given to another thread once it has run ' +
      'for 20 ms). Requests whose handlers returned (async handlers awaiting, streamed responses, ' +
      'WebSockets) count against `--worker-connections` instead. ' +
      'See docs/decisions/0029-worker-connections.md.',
  }),
  setting({
    key: 'workerConnections', section: 'Concurrency', flag: '--worker-connections',
    env: 'GREENSERVE_WORKER_CONNECTIONS', metavar: 'INT',
    schema: Type.Integer({ minimum: 1, maximum: 100_000, default: 1000 }),
    help: 'most requests in flight on one worker thread, async awaits, streams and WebSockets included',
    doc: 'The most requests in flight at once on one worker thread, counting those whose handlers ' +
      'returned and still await, stream or hold a WebSocket (gunicorn\'s `--worker-connections` ' +
      'for its gevent workers, also 1000 by default). Never below `--thread-concurrency`. Past it, ' +
      'requests wait in the acceptor\'s queue for a place (bounded by `--limit-concurrency`).',
  }),
  setting({
    key: 'limitConcurrency', section: 'Concurrency', flag: '--limit-concurrency',
    env: 'GREENSERVE_LIMIT_CONCURRENCY', metavar: 'INT',
    schema: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER, default: 10_000 }),
    help: 'most requests accepted but not yet answered; past it, 503',
    doc: 'The most requests accepted but not yet answered, across the server: those running on a ' +
      'worker plus those waiting for one. Past it a new request is answered at once with ' +
      '`503 Service Unavailable` (uvicorn\'s name for the same limit).',
  }),
  setting({
    key: 'sticky', section: 'Concurrency', flag: '--sticky', env: 'GREENSERVE_STICKY', metavar: 'KEY',
    schema: Type.String({ default: 'off' }),
    allowed: 'off, ip, cookie:NAME or query:NAME',
    help: 'send a client\'s requests to the same thread: off, ip, cookie:NAME or query:NAME',
    doc: 'Sticky routing, for apps that keep per-client state in a thread\'s memory (express-session\'s ' +
      'memory store, socket.io\'s long-polling sessions): each request with a key goes to the thread ' +
      'its key was first sent to, for as long as that thread lives. `ip`: the key is the client\'s ' +
      'address: the connection\'s peer, or for a peer in `--forwarded-allow-ips` the last entry of its ' +
      '`X-Forwarded-For` (the address the app sees). `cookie:NAME`: the value of cookie NAME (`cookie:connect.sid` for express-session); ' +
      'the thread whose response sets the cookie (Set-Cookie) is the one its requests go to. ' +
      '`query:NAME`: the value of query parameter NAME (`query:sid` for socket.io); the thread whose ' +
      'response hands the value out as a JSON member `"NAME":"VALUE"` (engine.io\'s handshake) is the ' +
      'one. A request without its key, or with a key not seen yet, goes to the next thread that can ' +
      'take it (round-robin, not packed on the first threads). A keyed request whose thread is busy ' +
      'or blocked waits for that thread; only when the thread is gone (crashed, recycled, reloaded, ' +
      'scaled down) do its keys move to another, and what the app kept in its memory is lost with it. ' +
      'The 100 000 most recently used keys are remembered. `off` (the default) costs nothing per ' +
      'request. See docs/per-thread-state.md and docs/decisions/0018-sticky-routing.md.',
    check: stickyProblem,
  }),
  setting({
    key: 'jobs', section: 'Concurrency', flag: '--jobs', env: 'GREENSERVE_JOBS', metavar: 'JOB',
    schema: Type.Array(Type.String(), { default: [] }),
    defaultDoc: 'none',
    allowed: 'NAME=MODULE, where MODULE is a path or file: URL of a module whose default export runs the job',
    help: 'a heavy job NAME=MODULE for jobs.run / jobs.runSync; repeatable',
    doc: 'A heavy job that handlers hand off with `jobs.run(NAME, input)` (async) or ' +
      '`jobs.runSync(NAME, input)` (sync handlers; parks like a blocking shim), from `greenserve/shims`. ' +
      'MODULE is a path (from the working directory) or `file:` URL of a module whose default export ' +
      'takes the input and returns (or resolves to) the result. Jobs run in a separate bounded pool of ' +
      'threads (piscina, owned by the I/O helper thread, never the acceptor), so long CPU work does ' +
      'not occupy request threads (gunicorn\'s "dirty workers"). Repeat the flag for several jobs; in ' +
      'the environment separate them with commas. See docs/shims.md.',
    check: (v) => (/^[A-Za-z0-9_.-]+=.+$/.test(String(v)) ? null : 'must be NAME=MODULE (NAME of letters, digits, _ . -)'),
  }),
  setting({
    key: 'jobsThreads', section: 'Concurrency', flag: '--jobs-threads', env: 'GREENSERVE_JOBS_THREADS', metavar: 'INT',
    schema: Type.Integer({ minimum: 1, maximum: 1024, default: Math.max(1, Math.floor(CORES / 2)) }),
    defaultDoc: 'half the available cores (at least 1)',
    help: 'threads of the heavy-jobs pool (jobs run at most this many at once)',
    doc: 'The most threads of the heavy-jobs pool, so the most jobs that run at once; more wait in ' +
      'its queue. Threads start on demand and stop after 30 s idle.',
  }),
  setting({
    key: 'jobsTimeout', section: 'Concurrency', flag: '--jobs-timeout', env: 'GREENSERVE_JOBS_TIMEOUT', metavar: 'SECONDS',
    schema: Type.Number({ minimum: 0, maximum: 86_400, default: 60 }),
    help: 'seconds a heavy job may run before its thread is stopped (0 = no limit)',
    doc: 'How long one heavy job may run. Past it the pool thread running it is stopped and the caller ' +
      'gets `GS_ERR_JOB_TIMEOUT`. 0 turns the limit off (the request deadline still applies to a ' +
      'handler parked in `jobs.runSync`).',
  }),
  setting({
    key: 'maxRequests', section: 'Concurrency', flag: '--max-requests', env: 'GREENSERVE_MAX_REQUESTS', metavar: 'INT',
    schema: Type.Integer({ minimum: 0, maximum: 2 ** 31 - 1, default: 0 }),
    help: 'requests a worker thread serves before it is replaced (0 = never)',
    doc: 'Recycle a worker thread after it has been given this many requests (plus a random ' +
      '`--max-requests-jitter`), as gunicorn\'s setting of the same name: a simple guard against ' +
      'leaks in the app. A worker never takes more than its share: its replacement starts once it ' +
      'has had 90 % of it, it retires when the replacement is ready, and once it has had all of it ' +
      'the other workers take the requests (or, with one thread, they wait for the replacement). The old one finishes what it has and exits; at most one ' +
      'worker recycles at a time. No request fails because of a recycle. Each recycle costs a ' +
      'worker start (tens to hundreds of ms of CPU): keep the value well above what a worker serves ' +
      'in a second. 0 turns recycling off.',
  }),
  setting({
    key: 'maxRequestsJitter', section: 'Concurrency', flag: '--max-requests-jitter',
    env: 'GREENSERVE_MAX_REQUESTS_JITTER', metavar: 'INT',
    schema: Type.Integer({ minimum: 0, maximum: 2 ** 31 - 1, default: 0 }),
    help: 'random 0..N added to --max-requests per worker, so workers do not recycle together',
    doc: 'A random number from 0 to this, drawn for each worker, is added to `--max-requests`, so ' +
      'that workers started together do not all recycle together.',
  }),
  setting({
    key: 'maxWorkerMemory', section: 'Concurrency', flag: '--max-worker-memory',
    env: 'GREENSERVE_MAX_WORKER_MEMORY', metavar: 'MB',
    schema: Type.Integer({ minimum: 0, maximum: 1_048_576, default: 0 }),
    defaultDoc: '0: node\'s own heap limit for the machine',
    help: 'MiB a worker thread may hold (V8 heap and Buffers): recycled near it, terminated past it',
    doc: 'The most memory each worker thread may hold, in MiB: its V8 old generation in use (the heap ' +
      'it keeps) plus the memory its objects hold outside the V8 heap (`Buffer`s, `ArrayBuffer`s, what ' +
      'native addons report). A worker above 80 % of it for a second is recycled like ' +
      '`--max-requests` (replacement first, no failed requests); one found above it is terminated: ' +
      'its requests in flight get `502`, and it is replaced. V8\'s own limit for the thread ' +
      '(`resourceLimits.maxOldGenerationSizeMb`) is set well above: twice this, and at least 512 MiB ' +
      'more, so that one large allocation past this limit (a 50 MiB array, `split(\'\')` of a large ' +
      'string) fits and the worker is stopped by greenserve, rather than being V8\'s fatal ' +
      'out-of-memory error, which aborts the whole process; a request that reaches V8\'s limit gets ' +
      '`502`. 0 (the default): node\'s own heap limit for the machine (`heap_size_limit`: a quarter of ' +
      'its memory, at most about 4 GiB), with V8\'s limit set above it in the same way. When node runs ' +
      'with `--max-old-space-size` (on its command line or in `NODE_OPTIONS`), that is every worker\'s ' +
      'V8 limit, whatever greenserve asks, and the default is 512 MiB below it (half of it below 1 GiB). ' +
      'See docs/decisions/0028-memory-limits.md.',
  }),
  setting({
    key: 'maxServerMemory', section: 'Concurrency', flag: '--max-server-memory',
    env: 'GREENSERVE_MAX_SERVER_MEMORY', metavar: 'MB',
    schema: Type.Integer({ minimum: 0, maximum: 16_777_216, default: 0 }),
    defaultDoc: '0: 90 % of the container\'s memory limit, or none',
    help: 'MiB of resident memory for the whole server: its largest worker is recycled or terminated',
    doc: 'The most resident memory (RSS) the server process may use, in MiB: what a container\'s or ' +
      'systemd\'s memory limit counts, which kills the whole process. Checked every 100 ms. Above 80 % ' +
      'of it for a second, the worker thread that holds the most memory is recycled (replacement ' +
      'first, no failed requests); above it, that worker is terminated (its requests in flight get ' +
      '`502`) and replaced. After each, the next waits 2 s for the memory to be given back. 0 (the ' +
      'default): 90 % of the memory limit of the process\'s cgroup (a container, a systemd ' +
      '`MemoryMax=`) when it has one, else no limit. To turn it off under such a limit, set it above ' +
      'the limit.',
  }),
  setting({
    key: 'limitRequestLine', section: 'Request limits', flag: '--limit-request-line',
    env: 'GREENSERVE_LIMIT_REQUEST_LINE', metavar: 'BYTES', size: true,
    schema: Type.Integer({ minimum: 16, maximum: 65536, default: 16_384 }),
    help: 'longest request line (method, target, version); past it, 414',
    doc: 'The longest request line (method, target and version) in bytes. A longer one is answered ' +
      'with `414 URI Too Long` and the connection closes. The default is as long as a request line ' +
      'node:http accepts (its 16 KiB header limit counts the target too).',
  }),
  setting({
    key: 'limitRequestFields', section: 'Request limits', flag: '--limit-request-fields',
    env: 'GREENSERVE_LIMIT_REQUEST_FIELDS', metavar: 'INT',
    schema: Type.Integer({ minimum: 1, maximum: 32768, default: 1000 }),
    help: 'most header fields in a request; past it, 431',
    doc: 'The most header fields in one request. More are answered with ' +
      '`431 Request Header Fields Too Large` and the connection closes. The default is the most ' +
      'node:http takes by default (`server.maxHeadersCount`, 2000 names and values: 1000 fields; ' +
      'past it Node 24 answers 431, Node 20 drops the rest). The worker\'s own parser, node\'s, ' +
      'keeps that default: a larger value lets more fields past the acceptor only.',
  }),
  setting({
    key: 'limitRequestFieldSize', section: 'Request limits', flag: '--limit-request-field-size',
    env: 'GREENSERVE_LIMIT_REQUEST_FIELD_SIZE', metavar: 'BYTES', size: true,
    schema: Type.Integer({ minimum: 16, maximum: 65536, default: 16_384 }),
    help: 'longest header field (name and value); past it, 431',
    doc: 'The longest header field, name and value together, in bytes. A longer one is answered ' +
      'with `431 Request Header Fields Too Large` and the connection closes. The default is as ' +
      'long as a field node:http accepts (its 16 KiB header limit).',
  }),
  setting({
    key: 'limitRequestHead', section: 'Request limits', flag: '--limit-request-head',
    env: 'GREENSERVE_LIMIT_REQUEST_HEAD', metavar: 'BYTES', size: true,
    schema: Type.Integer({ minimum: 1024, maximum: 2 ** 26, default: 65_536 }),
    help: 'longest request head (request line and every header field); past it, 431',
    doc: 'The longest request head in bytes: the request line and every header field, with their ' +
      'line ends. A longer one is answered with `431 Request Header Fields Too Large` and the ' +
      'connection closes. This is what bounds the memory a client can hold with a head it has ' +
      'not finished sending (at most this much per connection, for at most `headerTimeout`). The ' +
      'default is four times node:http\'s own limit (16 KiB, `--max-http-header-size`, which counts ' +
      'the target, names and values but not line ends or separators), so that every head ' +
      'node:http accepts is accepted; see docs/decisions/0015-request-limit-defaults.md.',
  }),
  setting({
    key: 'limitRequestBody', section: 'Request limits', flag: '--limit-request-body',
    env: 'GREENSERVE_LIMIT_REQUEST_BODY', metavar: 'BYTES', size: true,
    schema: Type.Integer({ minimum: 0, maximum: 2 ** 40, default: 2 ** 40 }),
    defaultDoc: '`1tb`, the largest value: no limit in practice',
    help: 'largest request body; past it, 413',
    doc: 'The largest request body in bytes, counted after chunked decoding. A larger one is ' +
      'answered with `413 Content Too Large`. 0 allows no body at all. By default there is no ' +
      'limit in practice, as on node:http: a body larger than `bodyBufferSize` streams to the ' +
      'handler as it arrives, so its size does not cost the server memory; the app or its ' +
      'body parser sets the limit it wants (Express\'s `express.json()` 100 KiB, multer\'s ' +
      '`limits.fileSize`). Set one here to refuse large bodies before they reach a worker.',
  }),
  setting({
    key: 'bodyBufferSize', section: 'Request limits', flag: '--body-buffer-size',
    env: 'GREENSERVE_BODY_BUFFER_SIZE', metavar: 'BYTES', size: true,
    schema: Type.Integer({ minimum: 0, maximum: 2 ** 30, default: 65_536 }),
    help: 'request bodies up to this are buffered whole; larger ones stream to the handler',
    doc: 'Request bodies up to this many bytes are read whole by the acceptor before the request ' +
      'goes to a worker (the fast path for ordinary forms and JSON). A larger body (by its ' +
      '`Content-Length`, or chunked bytes past it) streams: the handler runs as soon as the head ' +
      'is in, `req` (or the Fetch `request.body` stream) delivers the body as it arrives, and a ' +
      'handler that reads slowly or not at all makes the server stop reading the client once ' +
      '256 KiB are in flight. `--limit-request-body` still applies to both. 0 streams every body ' +
      'that is not complete in the first read.',
  }),
  setting({
    key: 'keepAlive', section: 'Timeouts', flag: '--keep-alive', env: 'GREENSERVE_KEEP_ALIVE', metavar: 'SECONDS',
    schema: Type.Number({ minimum: 0, maximum: 3600, default: 75 }),
    help: 'seconds an idle keep-alive connection is kept open',
    doc: 'How long, in seconds, an idle keep-alive connection is kept open waiting for the next ' +
      'request (checked once a second, so it closes within this and one second more). 0 answers ' +
      'every request with `Connection: close`. Behind a load balancer or reverse proxy that keeps ' +
      'connections to greenserve open, set this LONGER than the proxy\'s own idle timeout (AWS ALB: ' +
      '60 s; nginx `keepalive_timeout` upstream: 60 s), or the proxy may send a request on a ' +
      'connection greenserve is closing and answer its client with a 502. The default, 75 s, is ' +
      'nginx\'s and covers the common 60 s proxies.',
  }),
  setting({
    key: 'headerTimeout', section: 'Timeouts', flag: '--header-timeout',
    env: 'GREENSERVE_HEADER_TIMEOUT', metavar: 'SECONDS',
    schema: Type.Number({ minimum: 1, maximum: 3600, default: 10 }),
    help: 'seconds allowed to receive a request\'s header section',
    doc: 'How long, in seconds, a client may take to send a complete request line and header ' +
      'section, counted from the request\'s first byte. Past it the client gets `408 Request ' +
      'Timeout` and the connection closes, so clients that trickle header bytes (slowloris) hold a ' +
      'connection slot for at most this long. A new connection that sends nothing is closed (no ' +
      'response) this long after it was accepted: its first request is timed from accept. ' +
      'Checked once a second.',
  }),
  setting({
    key: 'minBodyRate', section: 'Timeouts', flag: '--min-body-rate',
    env: 'GREENSERVE_MIN_BODY_RATE', metavar: 'BYTES', size: true,
    schema: Type.Integer({ minimum: 0, maximum: 2 ** 40, default: 512 }),
    help: 'least average upload rate (bytes/s) of a request body, after --header-timeout',
    doc: 'While a request body is being received: once the request has taken longer than ' +
      '`--header-timeout`, its average rate since its first byte must be at least this many ' +
      'bytes per second, or the client gets `408 Request Timeout` and the connection closes. ' +
      '0 turns the check off (the body may then take as long as it likes).',
  }),
  setting({
    key: 'responseTimeout', section: 'Timeouts', flag: '--response-timeout',
    env: 'GREENSERVE_RESPONSE_TIMEOUT', metavar: 'SECONDS',
    schema: Type.Number({ minimum: 0, maximum: 86400, default: 300 }),
    help: 'seconds a request may wait for its response to begin before it gets 504 (0 = never)',
    doc: 'The response deadline: a request whose response has not begun this many seconds after ' +
      'it was received (its body too, for an upload) gets `504 Gateway Timeout`, and its handler ' +
      'is cancelled: node apps see `close` on `req` and `res`, Fetch-style apps an aborted ' +
      '`request.signal`. This is what frees the `--thread-concurrency` place of an async handler ' +
      'that never answers. A handler still running synchronously is left to `--timeout`; a ' +
      'response that has begun (a stream) to `--stream-idle-timeout`. Checked once a second. 0 ' +
      'never answers for the app (docs/decisions/0021-response-timeout.md).',
  }),
  setting({
    key: 'sendTimeout', section: 'Timeouts', flag: '--send-timeout',
    env: 'GREENSERVE_SEND_TIMEOUT', metavar: 'SECONDS',
    schema: Type.Number({ minimum: 0, maximum: 86400, default: 60 }),
    help: 'seconds a client may take none of the response bytes waiting for it (0 = never)',
    doc: 'How long, in seconds, response bytes may wait for a client that takes none of them (it ' +
      'does not read, or reads nothing more) before the connection is closed; a handler still ' +
      'writing that response sees `close` (an aborted `request.signal`). Counted from the last ' +
      'time the client took any, not for the whole response: a slow reader that keeps reading is ' +
      'never cut. nginx\'s `send_timeout`, and its default. Checked once a second. 0 never closes ' +
      'a connection for this (docs/decisions/0024-slow-clients.md).',
  }),
  setting({
    key: 'streamIdleTimeout', section: 'Timeouts', flag: '--stream-idle-timeout',
    env: 'GREENSERVE_STREAM_IDLE_TIMEOUT', metavar: 'SECONDS',
    schema: Type.Number({ minimum: 0, maximum: 86400, default: 300 }),
    help: 'seconds a streamed response may send nothing before its connection closes (0 = never)',
    doc: 'How long, in seconds, a streamed response (one whose handler wrote part of it and ' +
      'returned: chunked downloads, server-sent events) may go without a byte reaching the client ' +
      'before the connection is closed and the handler sees `close` (an aborted `request.signal`). ' +
      'Checked once a second. The request deadline (`--timeout`) covers only the handler\'s ' +
      'synchronous run, and `--keep-alive` only connections that owe no response, so this is what ' +
      'bounds a stream that stalled, or whose client stopped reading. Send a comment line every ' +
      'so often on long-lived event streams. 0 never closes a stream for idleness.',
  }),
  setting({
    key: 'maxRequestsPerConnection', section: 'Timeouts', flag: '--max-requests-per-connection',
    env: 'GREENSERVE_MAX_REQUESTS_PER_CONNECTION', metavar: 'INT',
    schema: Type.Integer({ minimum: 0, maximum: 2 ** 31 - 1, default: 0 }),
    help: 'requests served on one connection before it is closed (0 = no limit)',
    doc: 'The number of requests served on one keep-alive connection; the last one is answered ' +
      'with `Connection: close` and the connection closes after it (nginx\'s ' +
      '`keepalive_requests`). Useful to rebalance long-lived client connections across servers. ' +
      '0 means no limit.',
  }),
  setting({
    key: 'gracefulTimeout', section: 'Timeouts', flag: '--graceful-timeout',
    env: 'GREENSERVE_GRACEFUL_TIMEOUT', metavar: 'SECONDS',
    schema: Type.Number({ minimum: 0, maximum: 86400, default: 30 }),
    help: 'seconds to finish in-flight requests on shutdown or reload',
    doc: 'On a graceful shutdown (SIGTERM, SIGINT), a reload (SIGHUP) or a recycle: how long, in ' +
      'seconds, requests in flight may take to finish before their workers are stopped (requests ' +
      'still unanswered then get `503`). The app\'s `teardown()` hook of a worker that drained runs ' +
      'within what is left of it (and at most 5 s). See docs/signals.md.',
  }),
  setting({
    key: 'timeout', section: 'Timeouts', flag: '--timeout', env: 'GREENSERVE_TIMEOUT', metavar: 'SECONDS',
    schema: Type.Number({ minimum: 0, maximum: 86400, default: 30 }),
    help: 'seconds a handler may hold its worker thread before the worker is replaced (0 = off)',
    doc: 'The request deadline: a handler that has held its worker thread longer than this many ' +
      'seconds (running synchronously, or parked in a blocking shim) gets its worker terminated; ' +
      'its client gets `504 Gateway Timeout`, requests the worker had not started yet go to other ' +
      'workers, and a replacement starts. The log line names the request (method, path, id), how ' +
      'long it ran and the worker. The same limit applies to a worker whose event loop stops ' +
      'turning outside any request (its heartbeat stops). Checked every 100 ms. An async handler ' +
      'that is waiting (its thread free) is not limited by this. 0 turns both off.',
  }),
  setting({
    key: 'bootTimeout', section: 'Timeouts', flag: '--boot-timeout', env: 'GREENSERVE_BOOT_TIMEOUT', metavar: 'SECONDS',
    schema: Type.Number({ minimum: 0, maximum: 86400, default: 60 }),
    help: 'seconds a worker may take to load the app (0 = no limit)',
    doc: 'How long, in seconds, a worker thread may take to import the app and become ready. At ' +
      'startup a worker past it stops the server (exit status 3, like any app that does not load); ' +
      'on a reload the new generation is abandoned and the old one keeps serving. 0: no limit.',
  }),
  setting({
    key: 'accessLog', section: 'Logging', flag: '--access-log', env: 'GREENSERVE_ACCESS_LOG', metavar: 'PATH',
    schema: Type.String({ default: '' }),
    defaultDoc: 'none (off)',
    allowed: '- for standard output, or a file path',
    help: 'write an access log line per request: - for stdout, or a file path',
    doc: 'Write one access-log line per request, written by the acceptor: requests answered by the app ' +
      'and those that never reached a worker (a 400/413/431 from the framer, a 503 at the ' +
      '`limitConcurrency` cap, a 408 timeout, a health check). `-` writes to standard output; a path ' +
      'appends to that file (SIGUSR1 reopens it, for logrotate). Writes are asynchronous and buffered, ' +
      'so a slow disk never blocks the acceptor; lines are flushed at exit. Turning the log on also ' +
      'turns on request ids (see `requestIdHeader`). The fields are described in docs/logging.md.',
    check: (v) => (String(v).includes('\0') ? 'must not contain NUL' : null),
  }),
  setting({
    key: 'accessLogFormat', section: 'Logging', flag: '--access-log-format', env: 'GREENSERVE_ACCESS_LOG_FORMAT',
    metavar: 'FORMAT',
    schema: Type.Union(ACCESS_LOG_FORMATS.map((s) => Type.Literal(s)), { default: 'json' }),
    help: 'access log line format: json or combined',
    doc: '`json`: one JSON object per line (`time`, `remote`, `method`, `target`, `status`, `bytes`, ' +
      '`duration_ms`, `worker`, `request_id`). `combined`: the Apache/nginx combined format, followed by ' +
      'the duration in seconds, the worker slot and the request id.',
  }),
  setting({
    key: 'requestIdHeader', section: 'Logging', flag: '--request-id-header', env: 'GREENSERVE_REQUEST_ID_HEADER',
    metavar: 'NAME',
    schema: Type.String({ minLength: 1, maxLength: 64, default: 'x-request-id' }),
    allowed: 'an HTTP header name',
    help: 'the request header that carries a request id (taken, or generated when absent)',
    doc: 'While the access log is on, each request gets an id: the value of this request header when ' +
      'the client (or a proxy) sent one of 1 to 128 visible ASCII characters, otherwise a generated ' +
      'UUID. The id is in the request\'s access-log line, and the app sees it as ' +
      '`req.headers[NAME]` (lower-case name; generated ids are added only where the header is absent). ' +
      'The app logger\'s records carry it as `requestId`; with the access log off they carry the ' +
      'client\'s id when usable, else one the worker makes (docs/logging.md).',
    check: (v) => (/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(String(v)) ? null : 'must be an HTTP header name'),
  }),
  setting({
    key: 'logLevel', section: 'Logging', flag: '--log-level', env: 'GREENSERVE_LOG_LEVEL', metavar: 'LEVEL',
    schema: Type.Union(LOG_LEVELS.map((s) => Type.Literal(s)), { default: 'info' }),
    help: 'least severe log level written',
    doc: 'The least severe level of log record written (pino levels). `silent` writes none.',
  }),
  setting({
    key: 'errorLog', section: 'Logging', flag: '--error-log', env: 'GREENSERVE_ERROR_LOG', metavar: 'PATH',
    schema: Type.String({ minLength: 1, default: '-' }),
    allowed: '- for standard error, or a file path',
    help: 'where log records go (startup, workers, errors, the app logger): - for stderr, or a file',
    doc: 'Where greenserve\'s own log records go, as pino JSON lines: startup, worker lifecycle, ' +
      'request errors with their stacks, and the app\'s records (`import { logger } from ' +
      '\'greenserve\'`, and console output with `captureOutput`). `-` writes to standard error; a path ' +
      'appends to that file (its directory is created; SIGUSR1 reopens it, for logrotate). Every ' +
      'thread writes whole lines, so lines from different threads never mix. See docs/logging.md.',
    check: (v) => (String(v).includes('\0') ? 'must not contain NUL' : null),
  }),
  setting({
    key: 'logFormat', section: 'Logging', flag: '--log-format', env: 'GREENSERVE_LOG_FORMAT', metavar: 'FORMAT',
    schema: Type.Union(LOG_FORMATS.map((s) => Type.Literal(s)), { default: 'auto' }),
    help: 'how log records are written: auto (text on a terminal, else json), json or text',
    doc: 'How the records of `errorLog` are written. `json`: one pino JSON object per line, for log ' +
      'collectors. `text`: one line per record for people to read, `time LEVEL [worker N] message`, ' +
      'with an error\'s stack on the lines after it (greenserve\'s other JSON fields are left out; ' +
      'those of the app\'s records follow the message). `auto` writes text when `errorLog` is ' +
      'standard error and standard error is a terminal, and json otherwise (a pipe, a file, a ' +
      'service manager), as uvicorn and gunicorn do. On a terminal the last listening line ends with ' +
      '"(press Ctrl+C to quit)". See docs/logging.md.',
  }),
  setting({
    key: 'captureOutput', section: 'Logging', flag: '--capture-output', env: 'GREENSERVE_CAPTURE_OUTPUT',
    metavar: 'BOOL',
    schema: Type.Boolean({ default: false }),
    help: 'turn console output of the app in worker threads into log records (with request ids)',
    doc: 'Like gunicorn\'s `--capture-output`: in worker threads, `console.log`, `info`, `debug`, ' +
      '`warn`, `error`, `trace` and `dir` (and what calls them: `table`, `count`, `assert`, ...) ' +
      'become log records at the matching level (`log` and `info`: info; `debug`: debug; `warn`: ' +
      'warn; `error`: error; `trace`: info with the stack), written to `errorLog` with the id of the ' +
      'request that printed them. Off: console output of workers reaches the process\'s stdout and ' +
      'stderr as plain text, as in any worker thread. See docs/logging.md.',
  }),
  setting({
    key: 'healthPath', section: 'Health and metrics', flag: '--health-path', env: 'GREENSERVE_HEALTH_PATH',
    metavar: 'PATH',
    schema: Type.String({ default: '' }),
    defaultDoc: 'none (off)',
    allowed: 'a path starting with /',
    help: 'answer liveness checks at this path (200 while the server is up)',
    doc: 'A liveness endpoint answered by the acceptor itself, never by a worker: a request whose ' +
      'target is this path (a query string is ignored) gets `200 OK` with the body `ok` as long as ' +
      'the acceptor runs, even while every worker is busy in a long handler. Any method; HEAD gets no ' +
      'body. The app never sees these requests. Readiness is at `readyPath`.',
    check: pathProblem,
  }),
  setting({
    key: 'readyPath', section: 'Health and metrics', flag: '--ready-path', env: 'GREENSERVE_READY_PATH',
    metavar: 'PATH',
    schema: Type.String({ default: '' }),
    defaultDoc: '`healthPath` + `/ready`',
    allowed: 'a path starting with /',
    help: 'answer readiness checks at this path (200 ready, 503 not ready or draining)',
    doc: 'A readiness endpoint answered by the acceptor: `200 OK` (`ready`) while at least one worker ' +
      'has loaded the app and can take work and the server is not shutting down, otherwise ' +
      '`503 Service Unavailable` (`not ready`). Point a load balancer\'s health check here so that a ' +
      'draining server stops getting traffic. Without it, and with `healthPath` set, readiness is ' +
      'at `healthPath` + `/ready`.',
    check: pathProblem,
  }),
  setting({
    key: 'metricsBind', section: 'Health and metrics', flag: '--metrics-bind', env: 'GREENSERVE_METRICS_BIND',
    metavar: 'ADDRESS',
    schema: Type.String({ default: '' }),
    defaultDoc: 'none (off)',
    allowed: 'HOST:PORT, [IPv6]:PORT or unix:PATH',
    help: 'serve Prometheus metrics at /metrics on this address',
    doc: 'Serve metrics in the Prometheus text format at `/metrics` on a listener of its own (not ' +
      'the `bind` addresses, so it can stay private): requests by status class, a request duration ' +
      'histogram, requests in flight and queued, open connections, workers by state, worker ' +
      'restarts by reason, requests served per worker, the process RSS and the acceptor\'s event-loop ' +
      'delay. Off by default; when off the request path does no metrics work at all. The names are ' +
      'listed in docs/metrics.md.',
    check: (v) => (String(v) === '' ? null : bindProblem(v)),
  }),
  setting({
    key: 'statusBind', section: 'Health and metrics', flag: '--status-bind', env: 'GREENSERVE_STATUS_BIND',
    metavar: 'ADDRESS',
    schema: Type.String({ default: '' }),
    defaultDoc: 'none (off)',
    allowed: 'HOST:PORT, [IPv6]:PORT or unix:PATH',
    help: 'serve the live status dashboard on this address (it shows request paths: keep it private)',
    doc: 'Serve a live status dashboard on a listener of its own: `/` is a page (no external ' +
      'resources) showing each worker thread\'s state and the request it is running, requests per ' +
      'second, latency, queue depth, connections, restarts and memory, updated every second by ' +
      'server-sent events from `/events`; `/status.json` returns one snapshot. It exposes request ' +
      'paths (not query strings) and has no authentication: bind it to a loopback address or put it ' +
      'behind a proxy that authenticates. Off by default (the built-in demo, served when no APP is ' +
      'given, turns it on at a free loopback port); when off the request path does no work for it. ' +
      'See docs/dashboard.md.',
    check: (v) => (String(v) === '' ? null : bindProblem(v)),
  }),
  setting({
    key: 'reload', section: 'Development', flag: '--reload', env: 'GREENSERVE_RELOAD', metavar: 'BOOL',
    schema: Type.Boolean({ default: false }),
    help: 'development: reload the workers when a file under the app\'s directory changes',
    doc: 'For development, never production. Watches `reloadDir` (by default the directory of the app ' +
      'module) and, a short moment after files matching `reloadInclude` and not `reloadExclude` ' +
      'change, reloads the workers with zero downtime, as SIGHUP does: new workers import the app ' +
      'afresh, and the old ones stop once the new ones serve. Code that does not load leaves the old ' +
      'workers serving; the next change tries again. Each reload is logged with the files that ' +
      'changed. With more than 4 `threads` it warns: every change starts that many workers.',
  }),
  setting({
    key: 'reloadDir', section: 'Development', flag: '--reload-dir', env: 'GREENSERVE_RELOAD_DIR', metavar: 'DIR',
    schema: Type.Array(Type.String({ minLength: 1 }), { default: [] }),
    defaultDoc: 'the directory of the app module',
    allowed: 'an existing directory',
    help: 'with --reload: a directory to watch (repeatable; replaces the app\'s directory)',
    doc: 'With `reload`: a directory watched for changes, with its subdirectories (except those ' +
      'matching `reloadExclude`). Repeat the flag for several; in the environment, separate them ' +
      'with commas. When given, only these are watched; by default the app module\'s directory is.',
    check: dirProblem,
  }),
  setting({
    key: 'reloadInclude', section: 'Development', flag: '--reload-include', env: 'GREENSERVE_RELOAD_INCLUDE',
    metavar: 'GLOB',
    schema: Type.Array(Type.String({ minLength: 1 }), { default: ['*.js', '*.mjs', '*.cjs', '*.json', '*.ts'] }),
    allowed: 'a glob (*, ?, ** and [...])',
    help: 'with --reload: a glob of files whose changes reload (repeatable; replaces the defaults)',
    doc: 'With `reload`: a file whose name matches one of these globs reloads the workers when it ' +
      'changes. A glob without `/` is matched against the file name (`*.mjs`), one with `/` against ' +
      'the path relative to the watched directory (`src/**/*.mjs`). `*` and `?` do not cross `/`; ' +
      '`**` does. Giving the flag replaces the defaults.',
    check: globProblem,
  }),
  setting({
    key: 'reloadExclude', section: 'Development', flag: '--reload-exclude', env: 'GREENSERVE_RELOAD_EXCLUDE',
    metavar: 'GLOB',
    schema: Type.Array(Type.String({ minLength: 1 }), { default: ['node_modules', '.*'] }),
    allowed: 'a glob (*, ?, ** and [...])',
    help: 'with --reload: a glob of files or directories to ignore (repeatable; replaces the defaults)',
    doc: 'With `reload`: files and directories to ignore. A glob without `/` is matched against every ' +
      'name on the path (so `node_modules` skips that directory wherever it is, and `.*` skips ' +
      '`.git` and dotfiles such as editor swap files); one with `/` against the path relative to ' +
      'the watched directory. Excluded directories are not watched at all. Giving the flag replaces ' +
      'the defaults.',
    check: globProblem,
  }),
] as const;

export type AnySetting = SettingSpec<string, TSchema>;
type Entry = (typeof SETTINGS)[number];
export type SettingKey = Entry['key'];
/** The value of every setting, typed from the table's schemas. */
export type SettingValues = { [E in Entry as E['key']]: Static<E['schema']> };
/** The settings whose value is a byte count (a string with a unit is accepted too). */
export type SizeSettingKey = Extract<Entry, { readonly size?: true }>['key'];

export const SETTING_BY_KEY: ReadonlyMap<string, AnySetting> = new Map(SETTINGS.map((s) => [s.key, s]));

/** CLI flags that are actions, not settings. */
export const CLI_ACTIONS = [
  { name: 'help', flag: '--help', short: '-h', help: 'show this help and exit' },
  { name: 'version', flag: '--version', short: '-v', help: 'print the version and exit' },
  { name: 'checkConfig', flag: '--check-config', short: null, help: 'check the settings and that the app loads, then exit (0 good, 2 bad)' },
  { name: 'printConfig', flag: '--print-config', short: null, help: 'print the resolved settings as JSON and exit' },
] as const;

// ---------------------------------------------------------------------------------------------
// Validators used by the table.

export type BindAddress = { kind: 'tcp'; host: string; port: number } | { kind: 'unix'; path: string };

const HOST_NAME = /^[A-Za-z0-9_.-]+$/;
const BIND_FORMS = 'must be HOST:PORT, [IPv6]:PORT or unix:PATH';

/** Parses one `--bind` value; a string result is the problem with it. */
function readBind(s: string): BindAddress | string {
  if (s.startsWith('unix:')) {
    const path = s.slice('unix:'.length);
    return path === '' ? 'unix: needs a socket path, as unix:PATH' : { kind: 'unix', path };
  }
  if (s.startsWith('[')) return readBracketed(s);
  const colon = s.lastIndexOf(':');
  if (colon < 0) return BIND_FORMS;
  const host = s.slice(0, colon);
  if (host.includes(':')) return 'an IPv6 host needs brackets, as [IPv6]:PORT';
  if (host === '') return 'HOST is missing, as in HOST:PORT';
  const numeric = /^[\d.]+$/.test(host);
  if (!HOST_NAME.test(host) || (numeric && !isIPv4(host))) return `"${host}" is not a host name or IPv4 address`;
  return withPort(host, s.slice(colon + 1));
}

function readBracketed(s: string): BindAddress | string {
  const close = s.indexOf(']');
  if (close < 0) return 'an IPv6 host needs a closing "]", as [IPv6]:PORT';
  const host = s.slice(1, close);
  if (!isIPv6(host)) return `"${host}" is not an IPv6 address`;
  if (s[close + 1] !== ':') return 'the port is missing, as in [IPv6]:PORT';
  return withPort(host, s.slice(close + 2));
}

function withPort(host: string, port: string): BindAddress | string {
  const n = /^\d{1,5}$/.test(port) ? Number(port) : NaN;
  if (!(n <= 65535)) return 'the port must be an integer from 0 to 65535';
  return { kind: 'tcp', host, port: n };
}

function bindProblem(value: unknown): string | null {
  const r = readBind(String(value));
  return typeof r === 'string' ? r : null;
}

/** Parses a `--bind` address; throws ConfigError for a malformed one. */
export function parseBind(s: string): BindAddress {
  const r = readBind(s);
  if (typeof r === 'string') throw new ConfigError('bind', `${r} (got ${JSON.stringify(s)})`);
  return r;
}

/** A TLS file setting: empty (not set) or a readable file. The contents are checked at boot. */
function fileProblem(value: unknown): string | null {
  const file = String(value);
  if (file === '') return null;
  try {
    if (!statSync(file).isFile()) return 'is not a file';
    accessSync(file, constants.R_OK);
    return null;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? 'no such file' : `cannot be read (${code ?? String(err)})`;
  }
}

const CONFIG_EXTENSIONS = ['.mjs', '.js', '.cjs', '.json'];

/** The config file: empty (none) or a readable file with a known extension. */
function configFileProblem(value: unknown): string | null {
  const file = String(value);
  if (file === '') return null;
  if (!CONFIG_EXTENSIONS.some((ext) => file.endsWith(ext))) return 'must end in .mjs, .js, .cjs or .json';
  return fileProblem(file);
}

/** A directory to watch (--reload-dir): it must exist. */
function dirProblem(value: unknown): string | null {
  try {
    return statSync(String(value)).isDirectory() ? null : 'is not a directory';
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? 'no such directory' : `cannot be read (${code ?? String(err)})`;
  }
}

/** A health or readiness path: empty (off) or an origin-form path without a query. */
function pathProblem(value: unknown): string | null {
  const s = String(value);
  if (s === '') return null;
  return /^\/[\x21-\x7e]*$/.test(s) && !s.includes('?') ? null : 'must be a path starting with / (no spaces or query)';
}

const IDENTIFIER = /^[\p{ID_Start}$_][\p{ID_Continue}$\u200C\u200D]*$/u;

/**
 * Splits `PATH:EXPORT` at the last colon, only where what follows is a JS identifier:
 * `/x/y.mjs:handler` → (`/x/y.mjs`, `handler`); `file:///x/y.mjs` and `./app.js` → (as given, null).
 */
export function splitAppSpec(spec: string): { app: string; appExport: string | null } {
  const colon = spec.lastIndexOf(':');
  const name = spec.slice(colon + 1);
  if (colon > 0 && IDENTIFIER.test(name)) return { app: spec.slice(0, colon), appExport: name };
  return { app: spec, appExport: null };
}

function appProblem(value: unknown): string | null {
  const s = String(value);
  if (s.endsWith(':')) return 'the export name after ":" is missing, as in PATH:EXPORT';
  return s.trim() === '' ? 'must name a module, as PATH or PATH:EXPORT' : null;
}

// ---------------------------------------------------------------------------------------------
// Describers: a schema in words, shared by error messages, --help and docs/settings.md.

const UNITS: ReadonlyArray<readonly [string, number]> = [
  ['tb', 2 ** 40], ['gb', 2 ** 30], ['mb', 2 ** 20], ['kb', 2 ** 10],
];

/** A byte count in the largest unit that divides it exactly: 65536 → `64kb`, 4094 → `4094`. */
export function formatSize(n: number): string {
  for (const [unit, size] of UNITS) if (n >= size && n % size === 0) return `${n / size}${unit}`;
  return String(n);
}

function formatBound(spec: AnySetting, n: number): string {
  return spec.size === true ? formatSize(n) : String(n);
}

function describeRange(spec: AnySetting, what: string, min?: number, max?: number): string {
  const top = max === undefined || max >= Number.MAX_SAFE_INTEGER ? undefined : max;
  if (min !== undefined && top !== undefined) {
    return `${what} from ${formatBound(spec, min)} to ${formatBound(spec, top)}`;
  }
  if (min !== undefined) return `${what} of at least ${formatBound(spec, min)}`;
  return top === undefined ? what : `${what} of at most ${formatBound(spec, top)}`;
}

/** The literal values of a union of literals (`auto | node | fetch`), or null. */
export function choicesOf(schema: TSchema): string[] | null {
  if (!KindGuard.IsUnion(schema)) return null;
  const values = schema.anyOf.map((s) => (KindGuard.IsLiteral(s) ? String(s.const) : null));
  return values.every((v): v is string => v !== null) ? values : null;
}

/** What a setting allows, as the end of "must be ...": `an integer from 1 to 1024`. */
export function describeAllowed(spec: AnySetting): string {
  const s = spec.schema;
  if (spec.allowed !== undefined) return spec.allowed;
  if (spec.size === true && KindGuard.IsInteger(s)) {
    return `${describeRange(spec, 'a byte size', s.minimum, s.maximum)} (like 4096 or 4kb)`;
  }
  if (KindGuard.IsInteger(s)) return describeRange(spec, 'an integer', s.minimum, s.maximum);
  if (KindGuard.IsNumber(s)) return describeRange(spec, 'a number', s.minimum, s.maximum);
  if (KindGuard.IsBoolean(s)) return 'true or false';
  const choices = choicesOf(s);
  if (choices !== null) return `one of ${choices.join(', ')}`;
  return 'a string';
}

/** A short type name for docs: `integer`, `bytes`, `string list`, `auto | node | fetch`. */
export function describeType(spec: AnySetting): string {
  const s = spec.schema;
  if (spec.size === true) return 'integer (bytes)';
  if (KindGuard.IsArray(s)) return 'list of strings (repeatable)';
  const choices = choicesOf(s);
  if (choices !== null) return choices.join(' | ');
  return KindGuard.IsInteger(s) ? 'integer' : String((s as { type?: unknown }).type ?? 'value');
}

/** The default in words, or null when the setting is required. */
export function describeDefault(spec: AnySetting): string | null {
  if (spec.defaultDoc !== undefined) return spec.defaultDoc;
  const d: unknown = spec.schema.default;
  if (d === undefined) return null;
  if (Array.isArray(d)) return d.join(', ');
  if (spec.size === true && typeof d === 'number' && formatSize(d) !== String(d)) return `${d} (${formatSize(d)})`;
  return String(d);
}
