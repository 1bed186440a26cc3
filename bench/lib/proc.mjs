// Process accounting from /proc (Linux only): a server's process tree, its RSS and CPU
// time, the load generator's CPU time, and a description of the machine.
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import os from 'node:os';

function clockTicks() {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' })) || 100;
  } catch {
    return 100;
  }
}
const TICKS_PER_S = clockTicks();

/** Fields of /proc/PID/stat we use (CPU in seconds), or null if the process is gone. */
export function readStat(pid) {
  let text;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // The command name (field 2) may contain spaces and parentheses: split after the last ')'.
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // f[0] is field 3 (state); utime..cstime are fields 14..17.
  const [utime, stime, cutime, cstime] = f.slice(11, 15).map(Number);
  return { ppid: Number(f[1]), cpuS: (utime + stime) / TICKS_PER_S, childCpuS: (cutime + cstime) / TICKS_PER_S };
}

/** pid and all of its live descendants (walks /proc/*\/stat for ppid). */
export function processTree(rootPid) {
  const children = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = readStat(name);
    if (!stat) continue;
    if (!children.has(stat.ppid)) children.set(stat.ppid, []);
    children.get(stat.ppid).push(Number(name));
  }
  const tree = [];
  for (const queue = [rootPid]; queue.length > 0; ) {
    const pid = queue.shift();
    tree.push(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return tree;
}

/**
 * CPU seconds used so far by a process tree, threads and reaped children included
 * (a child that exits moves its time into its parent's cutime/cstime, so the total
 * stays continuous).
 */
export function treeCpuS(rootPid) {
  let total = 0;
  for (const pid of processTree(rootPid)) {
    const stat = readStat(pid);
    if (stat) total += stat.cpuS + stat.childCpuS;
  }
  return total;
}

function rssKb(pid) {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** OS threads of a process tree (the Threads: line of /proc/PID/status, summed). */
export function treeThreads(rootPid) {
  return processTree(rootPid).reduce((sum, pid) => {
    try {
      return sum + Number(/^Threads:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
    } catch {
      return sum;
    }
  }, 0);
}

/** Resident memory of a process tree, summed over its processes, in kB. */
export function treeRssKb(rootPid) {
  return processTree(rootPid).reduce((sum, pid) => sum + rssKb(pid), 0);
}

/**
 * Whole-machine CPU seconds so far, from the first line of /proc/stat: busy (everything
 * but idle and iowait) and steal (time the hypervisor gave to someone else).
 */
export function machineCpuS() {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0];
  const [user, nice, system, _idle, _iowait, irq, softirq, steal] = line.split(/\s+/).slice(1, 9).map(Number);
  return { busyS: (user + nice + system + irq + softirq) / TICKS_PER_S, stealS: steal / TICKS_PER_S };
}

/** CPU seconds of this process's reaped children (how wrk's CPU time is measured). */
export function reapedChildrenCpuS() {
  return readStat('self').childCpuS;
}

/** Polls a server's RSS while a sample runs; stop() returns the peak and process count. */
export function watchTree(rootPid, intervalMs = 250) {
  let peakKb = 0;
  let procs = 0;
  const poll = () => {
    peakKb = Math.max(peakKb, treeRssKb(rootPid));
    procs = Math.max(procs, processTree(rootPid).length);
  };
  poll();
  const timer = setInterval(poll, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      poll();
      return { peakRssKb: peakKb, procs };
    },
  };
}

function cpuModel() {
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    return m ? m[1].trim() : os.cpus()[0]?.model;
  } catch {
    return os.cpus()[0]?.model;
  }
}

function gitCommit() {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

function gitDirty() {
  try {
    return execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() !== '';
  } catch {
    return null;
  }
}

export function describeMachine() {
  return {
    cpuModel: cpuModel(),
    cores: os.availableParallelism(),
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    gitCommit: gitCommit(),
    gitDirty: gitDirty(),
    loadavgAtStart: os.loadavg().map((x) => Math.round(x * 100) / 100),
  };
}

/** This process's open-file limit from /proc/self/limits: { soft, hard } (Infinity for unlimited). */
export function openFileLimit() {
  const line = /^Max open files\s+(\S+)\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
  const n = (x) => (x === 'unlimited' ? Infinity : Number(x));
  return { soft: n(line[1]), hard: n(line[2]) };
}

/**
 * Node raises its soft open-file limit to the hard limit at startup, and the servers and load
 * tools inherit it from this process. When that is below `need`, re-run `script` (this process's
 * own script, with the same arguments) once under `sh -c 'ulimit -n N'`, which raises the hard
 * limit too where allowed (root, or CAP_SYS_RESOURCE). Returns { need, soft, hard, note } (note:
 * null, or why the limit stayed too low), or never returns (the re-run's exit status becomes
 * this one's).
 */
export function ensureFdLimit(need, script) {
  const { soft, hard } = openFileLimit();
  if (soft >= need) return { need, soft, hard, note: null };
  if (process.env.BENCH_FD_RERUN) {
    return { need, soft, hard, note: `could not raise the open-file limit to ${need} (it is ${soft}; \`ulimit -n ${need}\` was refused)` };
  }
  console.log(`open-file limit ${soft} < ${need}: re-running under \`ulimit -n ${need}\``);
  const r = spawnSync('sh', ['-c', `ulimit -n ${need} 2>/dev/null; exec "$0" "$@"`, process.execPath,
    ...process.execArgv, script, ...process.argv.slice(2)],
  { stdio: 'inherit', env: { ...process.env, BENCH_FD_RERUN: '1' } });
  process.exit(r.status ?? 1);
}

function readSys(path) {
  try {
    return readFileSync(path, 'utf8').trim().replace(/\s+/g, ' ');
  } catch {
    return null;
  }
}

/** Kernel settings that bound many-connection tests. */
export function networkLimits() {
  return {
    somaxconn: readSys('/proc/sys/net/core/somaxconn'),
    ipLocalPortRange: readSys('/proc/sys/net/ipv4/ip_local_port_range'),
    openFiles: openFileLimit(),
  };
}
