// --metrics-bind: Prometheus text on its own listener, parsed here: requests by status class
// (framer 413 included), the duration histogram, gauges, workers by state, served per worker,
// restarts by reason, RSS and the acceptor's event-loop delay.
import t from 'tap';
import { delay, fixture, httpGet, portOf, rawExchange, startServer } from '../helpers.mjs';

/** Parses the text format into { samples: Map<'name{labels}', number>, types: Map<name, type> }. */
function parse(t, text) {
  const samples = new Map();
  const types = new Map();
  for (const line of text.trimEnd().split('\n')) {
    if (line.startsWith('# TYPE ')) {
      const [, , name, type] = line.split(' ');
      types.set(name, type);
      continue;
    }
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (-?[0-9.e+-]+|\+Inf|NaN)$/.exec(line);
    if (!m) {
      t.fail(`not a sample line: ${line}`);
      continue;
    }
    samples.set(m[1], Number(m[2]));
  }
  return { samples, types };
}

const scrape = async (t, h) => {
  const r = await httpGet(h.metricsUrl);
  t.equal(r.status, 200);
  t.match(r.headers['content-type'], /^text\/plain; version=0\.0\.4/);
  return parse(t, r.body);
};

t.test('metrics are off by default', { timeout: 20000 }, async (t) => {
  const h = await startServer(t, { app: fixture('echo.mjs') });
  t.equal(h.metricsUrl, null);
});

t.test('the scrape reflects the traffic', { timeout: 30000 }, async (t) => {
  const h = await startServer(t, { app: fixture('echo.mjs'), metricsBind: '127.0.0.1:0', limitRequestBody: 10 });
  t.match(h.metricsUrl, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
  const port = portOf(h);
  for (let i = 0; i < 5; i++) await rawExchange(port, 'GET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  const big = await rawExchange(port, 'POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n');
  t.match(big.text, /^HTTP\/1\.1 413 /, 'the framer refuses the body');
  const { samples: s, types } = await scrape(t, h);
  t.equal(s.get('greenserve_requests_total{class="2xx"}'), 5);
  t.equal(s.get('greenserve_requests_total{class="4xx"}'), 1, 'the framer 413 counts');
  t.equal(s.get('greenserve_requests_total{class="5xx"}'), 0);
  t.equal(types.get('greenserve_requests_total'), 'counter');
  t.equal(types.get('greenserve_request_duration_seconds'), 'histogram');
  t.equal(s.get('greenserve_request_duration_seconds_count'), 6);
  t.equal(s.get('greenserve_request_duration_seconds_bucket{le="+Inf"}'), 6);
  t.ok(s.get('greenserve_request_duration_seconds_sum') > 0);
  let prev = 0;
  for (const [k, v] of s) {
    if (!k.startsWith('greenserve_request_duration_seconds_bucket')) continue;
    t.ok(v >= prev, `${k} is cumulative`);
    prev = v;
  }
  t.equal(s.get('greenserve_requests_in_flight'), 0);
  t.equal(s.get('greenserve_queue_depth'), 0);
  t.ok(s.has('greenserve_connections_open'));
  t.equal(s.get('greenserve_workers{state="idle"}'), 2);
  t.equal(s.get('greenserve_workers{state="parked"}'), 0, 'every state is listed');
  const served = [...s].filter(([k]) => k.startsWith('greenserve_worker_requests_served_total{slot=')).reduce((n, [, v]) => n + v, 0);
  t.equal(served, 5, 'served per worker adds up to what the app answered');
  t.ok(s.get('process_resident_memory_bytes') > 1e6);
  t.ok(s.has('greenserve_acceptor_event_loop_delay_seconds{stat="p99"}'));
  t.ok(s.get('greenserve_acceptor_event_loop_delay_seconds{stat="max"}') >= 0);
  const notFound = await httpGet(h.metricsUrl.replace(/\/metrics$/, '/other'));
  t.equal(notFound.status, 404);
});

t.test('in-flight and queue depth while the only worker is blocked', { timeout: 30000 }, async (t) => {
  const h = await startServer(t, { app: fixture('blocks.mjs'), threads: 1, metricsBind: '127.0.0.1:0' });
  const port = portOf(h);
  const a = rawExchange(port, 'GET /block?ms=800 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  const b = rawExchange(port, 'GET /block?ms=10 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  for (let i = 0; i < 200 && (h.stats().outstanding < 2 || h.stats().workers[0]?.state !== 'running'); i++) await delay(5);
  const { samples: s } = await scrape(t, h);
  t.equal(s.get('greenserve_requests_in_flight'), 2);
  t.equal(s.get('greenserve_workers{state="running"}'), 1);
  t.equal(s.get('greenserve_connections_open'), 2);
  t.ok(s.get('greenserve_queue_depth') <= 1);
  await Promise.all([a, b]);
});

t.test('worker restarts by reason', { timeout: 30000 }, async (t) => {
  const h = await startServer(t, { app: fixture('crashes.mjs'), threads: 1, metricsBind: '127.0.0.1:0' });
  const port = portOf(h);
  await rawExchange(port, 'GET /crash HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', { ms: 3000 });
  let s;
  const until = Date.now() + 15000; // the replacement may take a while on a loaded machine
  while (Date.now() < until) {
    ({ samples: s } = await scrape(t, h));
    if (s.get('greenserve_worker_restarts_total{reason="crashed"}') === 1 && s.get('greenserve_workers{state="idle"}') === 1) break;
    await delay(20);
  }
  t.equal(s.get('greenserve_worker_restarts_total{reason="crashed"}'), 1);
  t.equal(s.get('greenserve_workers{state="idle"}'), 1, 'replaced');
});
