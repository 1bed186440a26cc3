// `greenserve --help`, generated from the settings table.
import { KindGuard } from '@sinclair/typebox';
import { CLI_ACTIONS, SECTIONS, SETTINGS, describeDefault, type AnySetting } from './settings.js';

const WIDTH = 100;
const INDENT = '  ';

interface Row {
  readonly left: string;
  /** the help text in pieces that wrap as units */
  readonly right: readonly string[];
}

/** The full --help text, ending with a newline. */
export function helpText(): string {
  const app = SETTINGS.find((s) => s.flag === null);
  const lines = ['usage: greenserve [options] [APP]', ''];
  if (app !== undefined) lines.push(`APP: ${app.help} (like ./app.js or ./app.js:handler)`, 'Without APP: the built-in notes demo (see --demo-db).', '');
  const sections: Array<[string, Row[]]> = SECTIONS.map((section) => [section, rowsFor(section)]);
  sections.push(['Other', CLI_ACTIONS.map((a) => ({ left: a.short === null ? `    ${a.flag}` : `${a.short}, ${a.flag}`, right: a.help.split(' ') }))]);
  const column = Math.max(...sections.flatMap(([, rows]) => rows.map((r) => r.left.length))) + 4;
  for (const [title, rows] of sections) {
    if (rows.length === 0) continue;
    lines.push(`${title}:`);
    for (const row of rows) lines.push(...formatRow(row, column));
    lines.push('');
  }
  lines.push(
    'Every option can also be set in the environment as GREENSERVE_<NAME>, like GREENSERVE_THREADS=4,',
    'or in a --config file. Precedence: defaults < config file < environment < command line.',
    'Byte sizes accept units: 64kb, 1mb (1024-based).',
    'Each setting is described in docs/settings.md.',
  );
  return `${lines.join('\n')}\n`;
}

function rowsFor(section: string): Row[] {
  return (SETTINGS as readonly AnySetting[])
    .filter((s) => s.section === section && s.flag !== null)
    .map((s) => ({ left: flagsOf(s), right: withDefault(s) }));
}

function flagsOf(spec: AnySetting): string {
  const flag = spec.flag as string;
  const long = KindGuard.IsBoolean(spec.schema) ? `--[no-]${flag.slice(2)}` : `${flag} ${spec.metavar}`;
  return spec.short === undefined ? `    ${long}` : `${spec.short}, ${long}`;
}

function withDefault(spec: AnySetting): string[] {
  const d = describeDefault(spec);
  const words = spec.help.split(' ');
  return d === null ? words : [...words, `(default: ${d})`];
}

/** One option row, the help text wrapped at WIDTH under its own column. */
function formatRow(row: Row, column: number): string[] {
  const words = row.right;
  const out: string[] = [];
  let line = `${INDENT}${row.left}`.padEnd(column);
  let empty = true;
  for (const word of words) {
    if (!empty && line.length + 1 + word.length > WIDTH) {
      out.push(line);
      line = ' '.repeat(column);
      empty = true;
    }
    line += empty ? word : ` ${word}`;
    empty = false;
  }
  out.push(line);
  return out;
}
