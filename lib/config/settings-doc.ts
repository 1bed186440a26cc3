// docs/settings.md, generated from the settings table. Regenerate with
// `npx tsc -p tsconfig.json && node dist/lib/config/write-settings-doc.js`;
// test/unit/config/settings-doc.test.mjs fails while the file is stale.
import { KindGuard } from '@sinclair/typebox';
import {
  SECTIONS, SETTINGS, describeAllowed, describeDefault, describeType, type AnySetting,
} from './settings.js';

const HEADER = `# Settings

<!-- Generated from lib/config/settings.ts by lib/config/settings-doc.ts; do not edit by hand.
     Regenerate: npx tsc -p tsconfig.json && node dist/lib/config/write-settings-doc.js -->

Every setting can be given in five places. Later ones win:

1. the default shown below;
2. a config file named by \`--config FILE\` (or \`GREENSERVE_CONFIG\`): a \`.json\` object, or the
   default export of a \`.mjs\`/\`.js\`/\`.cjs\` module, keyed by the camelCase names below;
3. the environment, as \`GREENSERVE_<NAME>\` (lists are comma-separated; an empty value counts as unset);
4. the command line: \`greenserve [options] [APP]\` (without APP, the built-in notes demo);
5. the options of a library call, by the camelCase key.

Values are checked once, at startup. A bad value, or an unknown option, flag, config-file key or
\`GREENSERVE_*\` variable, stops greenserve with a one-line message that names it and, when one is
close, suggests a valid name (\`GS_ERR_CONFIG\`, exit status 2). \`greenserve --check-config\` checks the
settings and that the app loads, then exits (0 or 2); \`--print-config\` prints the resolved
settings as JSON.
Numbers are plain decimals. Byte sizes may also carry a unit: \`b\`, \`kb\`, \`mb\`, \`gb\`, \`tb\`
(1024-based; \`k\`, \`m\`, \`g\`, \`t\` too), like \`64kb\` or \`1mb\`.
A config file and the options of a library call take the same values, and \`serve()\`'s types
(\`ConfigOptions\`) say so: a byte size as a number or a string with a unit
(\`limitRequestBody: '10mb'\`), a list as an array or a single string (\`bind: '127.0.0.1:8000'\`),
\`app\` as a path or a \`URL\`.
`;

/** The Markdown text of docs/settings.md. */
export function renderSettingsDoc(): string {
  const parts = [HEADER];
  for (const section of SECTIONS) {
    const specs = (SETTINGS as readonly AnySetting[]).filter((s) => s.section === section);
    if (specs.length === 0) continue;
    parts.push(`## ${section}\n`);
    for (const spec of specs) parts.push(renderSetting(spec));
  }
  return parts.join('\n');
}

function renderSetting(spec: AnySetting): string {
  const rows: Array<[string, string]> = [
    ['command line', cliOf(spec)],
    ['environment', `\`${spec.env}\``],
    ['type', describeType(spec)],
    ['default', defaultCell(spec)],
    ['allowed', describeAllowed(spec)],
  ];
  const table = rows.map(([k, v]) => `| ${k} | ${escapeCell(v)} |`).join('\n');
  const summary = `${spec.help.charAt(0).toUpperCase()}${spec.help.slice(1)}.`;
  return `### \`${spec.key}\`\n\n${summary}\n\n| | |\n|---|---|\n${table}\n\n${spec.doc}\n`;
}

function defaultCell(spec: AnySetting): string {
  const d = describeDefault(spec);
  if (d === null) return 'none: required';
  return spec.defaultDoc === undefined ? `\`${d}\`` : d; // words, not a value
}

function cliOf(spec: AnySetting): string {
  if (spec.flag === null) return `\`${spec.metavar}\` (the positional argument)`;
  if (KindGuard.IsBoolean(spec.schema)) return `\`${spec.flag}\`, \`--no-${spec.flag.slice(2)}\``;
  const long = `\`${spec.flag} ${spec.metavar}\``;
  return spec.short === undefined ? long : `${long}, \`${spec.short} ${spec.metavar}\``;
}

function escapeCell(text: string): string {
  return text.replace(/\|/g, '\\|');
}
