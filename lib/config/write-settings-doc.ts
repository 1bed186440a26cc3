// Writes docs/settings.md from the settings table: `node dist/lib/config/write-settings-doc.js`
// (after `npx tsc -p tsconfig.json`).
import { writeFileSync } from 'node:fs';
import { renderSettingsDoc } from './settings-doc.js';

// This file compiles to dist/lib/config/, three levels below the repository root.
const target = new URL('../../../docs/settings.md', import.meta.url);
writeFileSync(target, renderSettingsDoc());
console.log(`wrote ${target.pathname}`);
