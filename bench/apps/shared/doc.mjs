// The `json` scenario's document: a fixed object (built once, at import) that serialises to
// exactly DOC_BYTES bytes. Every server serialises it afresh per request (JSON.stringify, or
// fastify's default serialiser, which is JSON.stringify when the route has no response schema).

export const DOC_BYTES = 1024;

function build(filler) {
  return {
    id: 12345,
    type: 'order',
    status: 'shipped',
    customer: { id: 987, name: 'Ada Lovelace', email: 'ada@example.com', vip: true },
    items: Array.from({ length: 8 }, (_, i) => ({
      sku: `SKU-${String(1000 + i)}`, name: `Widget number ${i + 1}`, qty: i + 1, price: 9.99 + i,
    })),
    tags: ['alpha', 'beta', 'gamma', 'delta'],
    createdAt: '2026-01-01T00:00:00.000Z',
    note: filler,
  };
}

/** The document, padded with `note` so that JSON.stringify(doc) is DOC_BYTES bytes long. */
export const doc = (() => {
  const bare = Buffer.byteLength(JSON.stringify(build('')));
  if (bare > DOC_BYTES) throw new Error(`json document is ${bare} bytes before padding (> ${DOC_BYTES})`);
  return build('x'.repeat(DOC_BYTES - bare));
})();
