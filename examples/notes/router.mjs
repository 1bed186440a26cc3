// A small router for plain `(req, res)` handlers: path patterns with `:params`, TypeBox schemas
// for params, query and JSON body (400 naming the field), 404/405/413/415 as HTTP says, and JSON
// errors. Handlers are synchronous: the router reads and checks the body first, then calls the
// handler with `req.params`, `req.query` and `req.body` set. A request without a body (a GET, a
// DELETE) is routed at once, with no event or promise in between.
import { isBusy } from './db.mjs';
import { coerce, compile } from './schemas.mjs';

/** Thrown by a handler (or the router) to answer `status` with `{ error: message, ...extra }`. */
export class HttpError extends Error {
  constructor(status, message, { headers = {}, ...extra } = {}) {
    super(message);
    this.status = status;
    this.headers = headers;
    this.extra = extra;
  }
}

export function sendJson(res, status, value, headers = {}) {
  const body = value === undefined ? '' : JSON.stringify(value);
  res.writeHead(status, {
    ...(body === '' ? {} : { 'content-type': 'application/json; charset=utf-8' }),
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(body);
}

/**
 * Build the `(req, res)` listener for `routes`: [{ method, path, handler, params?, query?, body? }]
 * where params/query/body are TypeBox object schemas. `maxBody`: the largest JSON body, in bytes.
 */
export function createRouter(routes, { maxBody }) {
  const table = routes.map(compileRoute);
  return function route(req, res) {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const search = q < 0 ? '' : url.slice(q + 1);
    try {
      const { entry, params } = match(table, req.method === 'HEAD' ? 'GET' : req.method, path);
      req.params = entry.params(params);
      req.query = entry.query(search);
      if (entry.body === null) return call(entry, req, res);
      readJsonBody(req, maxBody, (err, value) => {
        if (err !== null) return fail(res, err);
        try {
          req.body = entry.body(value);
        } catch (e) {
          return fail(res, e);
        }
        call(entry, req, res);
      });
    } catch (err) {
      fail(res, err);
    }
  };
}

function call(entry, req, res) {
  try {
    entry.handler(req, res);
  } catch (err) {
    fail(res, err);
  }
}

function fail(res, err) {
  if (res.headersSent) {
    res.destroy(err);
    return;
  }
  if (err instanceof HttpError) return sendJson(res, err.status, { error: err.message, ...err.extra }, err.headers);
  if (isBusy(err)) return sendJson(res, 503, { error: 'the database is busy; try again' }, { 'retry-after': '1' });
  console.error('notes: request failed:', err);
  sendJson(res, 500, { error: 'internal error' });
}

function compileRoute(route) {
  const parts = route.path.split('/');
  return {
    method: route.method,
    parts,
    handler: route.handler,
    params: checker(route.params, 'params', (raw) => coerce(route.params, raw)),
    query: checker(route.query, 'query', (raw) => coerce(route.query, queryObject(raw))),
    body: route.body === undefined ? null : checker(route.body, 'body', (v) => v),
  };
}

/** A function raw → checked value (throws a 400 naming the field); `prepare` turns the raw input into the value to check. */
function checker(schema, what, prepare) {
  if (schema === undefined) return () => ({});
  const check = compile(schema, what);
  return (raw) => {
    const value = prepare(raw);
    const problems = check(value);
    if (problems === null) return withDefaults(schema, value);
    const error = problems.map((p) => `${p.field}: ${p.message}`).join('; ');
    throw new HttpError(400, error, { errors: problems });
  };
}

function withDefaults(schema, value) {
  if (schema.type !== 'object' || value === null || typeof value !== 'object') return value;
  const out = { ...value };
  for (const [key, prop] of Object.entries(schema.properties)) if (out[key] === undefined && prop.default !== undefined) out[key] = prop.default;
  return out;
}

function queryObject(search) {
  const out = {};
  for (const [key, value] of new URLSearchParams(search)) {
    if (key in out) out[key] = [].concat(out[key], value);
    else out[key] = value;
  }
  return out;
}

function match(table, method, path) {
  const segments = path.split('/');
  const allowed = new Set();
  for (const entry of table) {
    const params = matchPath(entry.parts, segments);
    if (params === null) continue;
    if (entry.method === method) return { entry, params };
    allowed.add(entry.method);
  }
  if (allowed.size === 0) throw new HttpError(404, `no such resource: ${path}`);
  if (allowed.has('GET')) allowed.add('HEAD');
  const allow = [...allowed].join(', ');
  throw new HttpError(405, `${method} is not allowed here; allowed: ${allow}`, { headers: { allow } });
}

function matchPath(parts, segments) {
  if (parts.length !== segments.length) return null;
  const params = {};
  for (let i = 0; i < parts.length; i++) {
    if (parts[i].startsWith(':')) {
      if (segments[i] === '') return null;
      params[parts[i].slice(1)] = safeDecode(segments[i]);
    } else if (parts[i] !== segments[i]) return null;
  }
  return params;
}

function safeDecode(s) {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/**
 * Read the request body as JSON, at most `limit` bytes: done(null, value), or done(HttpError)
 * for a missing body (400), a body that is not JSON (415 when the content-type says so, 400 when
 * it does not parse) or a larger one (413).
 */
function readJsonBody(req, limit, done) {
  const length = req.headers['content-length'];
  if ((length === undefined && req.headers['transfer-encoding'] === undefined) || length === '0') {
    return done(new HttpError(400, 'body: is required (a JSON object)'));
  }
  const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if (type !== 'application/json') {
    return done(new HttpError(415, `content-type: must be application/json (got ${type === '' ? 'none' : JSON.stringify(type)})`));
  }
  if (length !== undefined && Number(length) > limit) return done(tooLarge(limit));
  const chunks = [];
  let size = 0;
  let failed = false;
  req.on('data', (chunk) => {
    if (failed) return;
    size += chunk.length;
    if (size > limit) {
      failed = true;
      done(tooLarge(limit));
    } else chunks.push(chunk);
  });
  req.on('end', () => {
    if (failed) return;
    let value;
    try {
      value = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch (err) {
      return done(new HttpError(400, `body: not valid JSON (${err.message})`));
    }
    done(null, value);
  });
  req.on('error', (err) => {
    if (!failed) { failed = true; done(err); }
  });
}

function tooLarge(limit) {
  return new HttpError(413, `body: larger than ${limit} bytes`, { headers: { connection: 'close' } });
}
