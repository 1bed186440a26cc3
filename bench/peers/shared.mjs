// What the peer servers share: their command line, the app module loader, and the keep-alive
// timeout. Peers hold idle connections for 75 s, greenserve's default (node:http's own default
// is 5 s), so that every server sends the same `Keep-Alive: timeout=75` header and holds the
// idle-connection test's connections for as long as greenserve does.
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

export const KEEP_ALIVE_MS = 75_000;
export const BACKLOG = 2048;

/** [appPath, port, rest...] from argv, or exits with the usage line. */
export function args(usage) {
  const [appPath, port, ...rest] = process.argv.slice(2);
  if (!appPath || !port) {
    console.error(`usage: ${usage}`);
    process.exit(2);
  }
  return { appPath, port: Number(port), rest };
}

/** The app module's default export. */
export async function loadApp(appPath) {
  return (await import(pathToFileURL(resolve(appPath)).href)).default;
}
