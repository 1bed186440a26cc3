import t from 'tap';
import { readFileSync } from 'node:fs';
import { renderSettingsDoc } from '../../../dist/lib/config/settings-doc.js';
import { SETTINGS } from '../../../dist/lib/config/settings.js';

const DOC = new URL('../../../docs/settings.md', import.meta.url);
const REGENERATE = 'npx tsc -p tsconfig.json && node dist/lib/config/write-settings-doc.js';

t.test('docs/settings.md is what the settings table generates', async (t) => {
  const written = readFileSync(DOC, 'utf8');
  const rendered = renderSettingsDoc();
  if (written !== rendered) {
    const a = written.split('\n');
    const b = rendered.split('\n');
    const line = a.findIndex((l, i) => l !== b[i]);
    t.fail(`docs/settings.md is stale (first difference at line ${line + 1}); run: ${REGENERATE}`, {
      found: a[line], wanted: b[line],
    });
  } else {
    t.pass('docs/settings.md is up to date');
  }
});

t.test('the doc has a section for every setting, with its names and doc', async (t) => {
  const doc = renderSettingsDoc();
  for (const s of SETTINGS) {
    t.match(doc, `### \`${s.key}\`\n`, `${s.key} has a section`);
    t.match(doc, `\`${s.env}\``, `${s.key}: env name`);
    if (s.flag) t.match(doc, s.schema.type === 'boolean' ? `\`${s.flag}\`` : `\`${s.flag} ${s.metavar}\``, `${s.key}: flag`);
    t.match(doc, s.doc, `${s.key}: doc text`);
  }
  t.match(doc, '| default | number of available cores |', 'no machine-specific default');
  t.notMatch(doc, /\n\n\n/, 'no blank-line runs');
  t.ok(doc.endsWith('\n') && !doc.endsWith('\n\n'), 'ends with one newline');
});
