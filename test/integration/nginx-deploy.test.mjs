// examples/deploy: every greenserve command line in the files is valid (resolved by the CLI's
// --print-config), and the numbers agree with each other as examples/deploy/README.md says:
// greenserve's keep-alive outlasts nginx's, nginx's read timeout outlasts greenserve's --timeout,
// each supervisor waits longer than --graceful-timeout before SIGKILL, the probes and health check
// use greenserve's paths. (nginx itself runs this nginx.conf in nginx.test.mjs.)
import t from 'tap';
import { readFileSync } from 'node:fs';
import YAML from 'yaml';
import { example, runCli } from '../helpers.mjs';

const read = (name) => readFileSync(example(`deploy/${name}`), 'utf8');
const CLI = 'node_modules/greenserve/dist/lib/cli.js';

/** The settings greenserve resolves from `args` (the CLI's own parser and checks). */
async function resolved(t, args, where) {
  const r = await runCli(['--print-config', ...args]);
  t.equal(r.code, 0, `${where}: a valid greenserve command line (${r.stderr.trim()})`);
  return JSON.parse(r.stdout);
}

/** nginx directive values: `name value;` (the first one found after `from`). */
function directive(conf, name, from = 0) {
  const m = new RegExp(`^\\s*${name}\\s+([^;]+);`, 'm').exec(conf.slice(from));
  if (m === null) throw new Error(`nginx.conf: no ${name}`);
  return m[1].trim();
}
const seconds = (v) => {
  const m = /^(\d+)(s|m)?$/.exec(v);
  return Number(m[1]) * (m[2] === 'm' ? 60 : 1);
};
const bytes = (v) => {
  const m = /^(\d+)([km])?$/i.exec(v);
  return Number(m[1]) * ({ k: 1024, m: 1024 ** 2 }[m[2]?.toLowerCase()] ?? 1);
};

const nginx = read('nginx.conf');
const upstream = nginx.indexOf('upstream greenserve');

t.test('systemd unit: valid command line; stop timeout, keep-alive and timeouts agree with nginx.conf', { timeout: 30000 }, async (t) => {
  const unit = read('greenserve@.service').replace(/\\\n\s*/g, ' ');
  const exec = /^ExecStart=(\S+) (\S+) (.*)$/m.exec(unit);
  t.match(exec[2], /\/node_modules\/greenserve\/dist\/lib\/cli\.js$/, 'node runs the CLI file itself');
  const servers = [...nginx.matchAll(/server 127\.0\.0\.1:(\d+)/g)].map((m) => m[1]);
  t.same(servers, ['8001', '8002'], 'nginx.conf lists two local instances');
  for (const port of servers) {
    const c = await resolved(t, exec[3].replaceAll('%i', port).trim().split(/\s+/), `greenserve@${port}`);
    t.same(c.bind, [`127.0.0.1:${port}`], `greenserve@${port} listens where nginx sends`);
    if (port !== servers[0]) continue;
    t.ok(c.keepAlive > seconds(directive(nginx, 'keepalive_timeout', upstream)), `--keep-alive ${c.keepAlive} s outlasts nginx's upstream keepalive_timeout`);
    t.ok(seconds(directive(nginx, 'proxy_read_timeout')) > c.timeout, `nginx proxy_read_timeout above --timeout ${c.timeout} s`);
    t.ok(seconds(directive(nginx, 'proxy_send_timeout')) > c.timeout, `nginx proxy_send_timeout above --timeout ${c.timeout} s`);
    t.ok(bytes(directive(nginx, 'client_max_body_size')) <= c.limitRequestBody, 'nginx client_max_body_size within --limit-request-body');
    t.ok(c.forwardedAllowIps.includes('127.0.0.1'), 'trusts nginx on the same machine');
    const stop = Number(/^TimeoutStopSec=(\d+)$/m.exec(unit)[1]);
    t.ok(stop > c.gracefulTimeout, `TimeoutStopSec ${stop} s > --graceful-timeout ${c.gracefulTimeout} s`);
    t.match(unit, /^KillSignal=SIGTERM$/m);
    t.match(unit, /^ExecReload=\/bin\/kill -HUP \$MAINPID$/m);
  }
  t.equal(directive(nginx, 'proxy_http_version'), '1.1', 'HTTP/1.1 to the upstream (keep-alive)');
  t.match(nginx, /proxy_set_header Connection "";/);
  t.match(nginx, /proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;/);
  t.match(nginx, /proxy_set_header X-Forwarded-Proto \$scheme;/);
});

t.test('Dockerfile: valid command line, bound to all interfaces, health check on --health-path', { timeout: 30000 }, async (t) => {
  const file = read('Dockerfile').replace(/\\\n\s*/g, ' ');
  const cmd = JSON.parse(/^CMD (\[.*\])$/m.exec(file)[1]);
  t.same(cmd.slice(0, 2), ['node', CLI], 'exec form: node is PID 1');
  const c = await resolved(t, cmd.slice(2), 'Dockerfile CMD');
  t.match(c.bind[0], /^0\.0\.0\.0:/, 'reachable from outside the container');
  const health = /HEALTHCHECK .*fetch\('http:\/\/127\.0\.0\.1:(\d+)(\/[^']*)'\)/.exec(file);
  t.equal(`0.0.0.0:${health[1]}`, c.bind[0], 'the health check asks the bound port');
  t.equal(health[2], c.healthPath, 'at --health-path');
  t.match(file, /^STOPSIGNAL SIGTERM$/m);
});

t.test('Kubernetes: valid command line; grace period covers preStop and --graceful-timeout; probes on greenserve\'s paths', { timeout: 30000 }, async (t) => {
  const [deployment, service] = YAML.parseAllDocuments(read('deployment.yaml')).map((d) => d.toJS());
  t.equal(service.kind, 'Service');
  const pod = deployment.spec.template.spec;
  const [app] = pod.containers;
  t.same(app.command, ['node', CLI]);
  const c = await resolved(t, app.args, 'deployment.yaml args');
  const preStop = Number(app.lifecycle.preStop.exec.command[1]);
  t.ok(pod.terminationGracePeriodSeconds >= preStop + c.gracefulTimeout + 5,
    `terminationGracePeriodSeconds ${pod.terminationGracePeriodSeconds} ≥ preStop ${preStop} + --graceful-timeout ${c.gracefulTimeout} + 5`);
  t.equal(app.livenessProbe.httpGet.path, c.healthPath, 'liveness at --health-path');
  t.equal(app.readinessProbe.httpGet.path, c.readyPath, 'readiness at --ready-path');
  const port = Number(c.bind[0].split(':')[1]);
  t.equal(app.ports.find((p) => p.name === app.readinessProbe.httpGet.port).containerPort, port, 'probes ask the bound port');
  t.match(c.bind[0], /^0\.0\.0\.0:/);
  t.ok(c.keepAlive > 60, `--keep-alive ${c.keepAlive} s outlasts the ingress's 60 s`);
  t.same(deployment.spec.strategy.rollingUpdate, { maxUnavailable: 0, maxSurge: 1 }, 'a new pod is ready before an old one goes');
});
