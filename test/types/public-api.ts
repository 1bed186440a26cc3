// Type tests of the public API, as an app sees it: the package's own exports (`greenserve`,
// `greenserve/shims`, `greenserve/logger`, `greenserve/broadcast`), resolved through package.json
// to the built declarations in dist/. Never run: `npm run check:types` compiles this file
// (tsconfig.test.json), and a type that changes shape fails the compile. `@ts-expect-error`
// marks what the types must refuse; an error that stops happening fails the compile too.
import {
  AppLoadError,
  ConfigError,
  GreenserveError,
  SUPERVISOR_SIGNALS,
  logger,
  serve,
  type BoundAddress,
  type ConfigOptions,
  type ServeOptions,
  type ServerHandle,
  type ServerStats,
  type SupervisorSignal,
} from 'greenserve';
import { channel, type Channel } from 'greenserve/broadcast';
import { logger as appLogger } from 'greenserve/logger';
import { createSyncFn, execFileSync, fetchSync, jobs, lookupSync, sleep, type FetchSyncResponse, type LookupAddress } from 'greenserve/shims';

/** Exact type equality (not mere assignability). */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
/** Compiles only when `A` and `B` are the same type. */
function exact<A, B>(..._proof: Equal<A, B> extends true ? [] : [never]): void {}
/** Compiles only when `value` is assignable to `T`. */
function expectType<T>(_value: T): void {}

export async function library(): Promise<void> {
  // serve(): the app is a path or a file: URL; sizes are numbers or strings; a list may be one string.
  const handle = await serve({ app: './app.mjs', bind: '127.0.0.1:0', threads: 2, limitRequestBody: '10mb', env: {} });
  await serve({ app: new URL('file:///srv/app.mjs'), bind: ['127.0.0.1:8000', 'unix:/tmp/gs.sock'] });
  exact<typeof handle, ServerHandle>();
  // @ts-expect-error: the app is required
  await serve({ bind: '127.0.0.1:0' });
  // @ts-expect-error: a count is not a string
  await serve({ app: './app.mjs', threads: '4' });
  // @ts-expect-error: no such option
  await serve({ app: './app.mjs', noSuchOption: true });

  // The handle.
  exact<typeof handle.url, string>();
  exact<typeof handle.addresses, readonly BoundAddress[]>();
  exact<typeof handle.metricsUrl, string | null>();
  exact<ReturnType<typeof handle.close>, Promise<void>>();
  await handle.close({ graceful: false });
  expectType<ServerStats>(handle.stats());
  expectType<Promise<ServerStats>>(handle.stats({ detail: true, timeoutMs: 100 }));
  handle.signal('SIGHUP');
  // @ts-expect-error: not a signal the supervisor acts on
  handle.signal('SIGKILL');
  exact<SupervisorSignal, (typeof SUPERVISOR_SIGNALS)[number]>();

  // Options objects as a config file or a wrapper would build them.
  const options: ServeOptions = { app: 'app.mjs', reloadDir: 'src' };
  const fileOptions: ConfigOptions = { threads: 4, maxThreads: 16 };
  void options;
  void fileOptions;

  // Errors are classes an app can test with instanceof.
  expectType<GreenserveError>(new ConfigError('threads', 'must be a whole number'));
  expectType<Error>(new AppLoadError('x'));

  // The app logger, from the main entry and from its own.
  logger.info({ user: 1 }, 'signed in');
  exact<typeof logger, typeof appLogger>();
}

export function shims(): void {
  sleep(10);
  const r = fetchSync('http://127.0.0.1:8000/', { method: 'POST', body: 'x', timeout: 1000 });
  exact<typeof r, FetchSyncResponse>();
  exact<ReturnType<typeof r.text>, string>();
  exact<typeof r.body, Buffer>();
  const one = lookupSync('localhost');
  const all = lookupSync('localhost', { all: true });
  exact<typeof one, LookupAddress>();
  exact<typeof all, LookupAddress[]>();
  const add = createSyncFn<[number, number], number>('./add.mjs');
  exact<ReturnType<typeof add>, number>();
  // @ts-expect-error: arguments are checked against the declared ones
  add('1', 2);
  expectType<Buffer | string>(execFileSync('ls', ['-l']));
  expectType<Promise<unknown>>(jobs.run('resize', { width: 10 }));
  expectType<unknown>(jobs.runSync('resize'));
}

export function broadcast(): void {
  const ch = channel<{ room: string }>('rooms');
  exact<typeof ch, Channel<{ room: string }>>();
  const stop = ch.subscribe((m) => exact<typeof m, { room: string }>());
  ch.publish({ room: 'a' });
  // @ts-expect-error: the message type is the channel's
  ch.publish({ room: 1 });
  stop();
  ch.close();
}
