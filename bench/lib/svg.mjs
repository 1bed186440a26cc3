// A tiny SVG bar-chart generator for docs/benchmarks/*.svg: small multiples, one panel per
// scenario (each with its own scale, since req/s range from hundreds to tens of thousands), one
// horizontal bar per server, its value written at the bar's end. Plain strings, no dependencies,
// no network: the charts are a pure function of the results JSON.

const PANEL_W = 330;
const LABEL_W = 112;
const VALUE_W = 62;
const BAR_H = 16;
const BAR_GAP = 5;
const PANEL_HEAD = 22;
const PANEL_PAD = 12;
const FONT = 'font-family="DejaVu Sans, Verdana, sans-serif"';

/** Stable colours per server (greenserve stands out). */
export const COLORS = {
  greenserve: '#2e9d4f',
  'node-http': '#6b7c93',
  'node-cluster': '#3f6fb5',
  fastify: '#c98a1b',
  'fastify-piscina': '#9b59b6',
  'greenserve-elastic': '#86c99a',
  'gunicorn-gevent': '#b5473a',
};

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function panel(p, x, y, height, format) {
  const max = Math.max(0, ...p.bars.map((b) => b.value ?? 0));
  const barArea = PANEL_W - LABEL_W - VALUE_W;
  const out = [
    `<g transform="translate(${x},${y})">`,
    `<rect width="${PANEL_W}" height="${height}" fill="#fafafa" stroke="#ddd"/>`,
    `<text x="8" y="15" ${FONT} font-size="12" font-weight="bold">${esc(p.title)}</text>`,
  ];
  p.bars.forEach((b, i) => {
    const by = PANEL_HEAD + i * (BAR_H + BAR_GAP);
    const w = b.value === null || max === 0 ? 0 : Math.max(1, (b.value / max) * barArea);
    out.push(
      `<text x="${LABEL_W - 6}" y="${by + BAR_H - 4}" ${FONT} font-size="11" text-anchor="end">${esc(b.label)}</text>`,
      `<rect x="${LABEL_W}" y="${by}" width="${w.toFixed(1)}" height="${BAR_H}" fill="${b.color ?? '#888'}"><title>${esc(`${b.label}: ${b.value === null ? 'no data' : format(b.value)}`)}</title></rect>`,
      `<text x="${(LABEL_W + w + 4).toFixed(1)}" y="${by + BAR_H - 4}" ${FONT} font-size="11">${esc(b.value === null ? 'n/a' : format(b.value))}</text>`,
    );
  });
  out.push('</g>');
  return out.join('\n');
}

/**
 * An SVG document: `title` and `subtitle` on top, then `panels` ([{ title, bars: [{ label,
 * value|null, color }], format? }]) in a grid of `columns`. `format(value)` writes the value
 * labels, unless the panel has its own.
 */
export function barPanels({ title, subtitle = '', panels, columns = 3, format = String }) {
  const cols = Math.min(columns, Math.max(1, panels.length));
  const rows = Math.ceil(panels.length / cols);
  const maxBars = Math.max(1, ...panels.map((p) => p.bars.length));
  const panelH = PANEL_HEAD + maxBars * (BAR_H + BAR_GAP) + 4;
  const top = subtitle ? 48 : 32;
  const width = PANEL_PAD + cols * (PANEL_W + PANEL_PAD);
  const height = top + rows * (panelH + PANEL_PAD);
  const body = panels.map((p, i) => panel(p,
    PANEL_PAD + (i % cols) * (PANEL_W + PANEL_PAD),
    top + Math.floor(i / cols) * (panelH + PANEL_PAD), panelH, p.format ?? format));
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="${PANEL_PAD}" y="21" ${FONT} font-size="15" font-weight="bold">${esc(title)}</text>`,
    subtitle ? `<text x="${PANEL_PAD}" y="39" ${FONT} font-size="11" fill="#555">${esc(subtitle)}</text>` : '',
    ...body,
    '</svg>',
    '',
  ].join('\n');
}
