// A node:test reporter that writes one JSON line per skipped or todo test (file, name, reason) to
// its destination. scripts/test.mjs reads the ledger after the run and fails on any skip that
// test/allowed-skips.json does not list, so a run cannot pass by quietly not testing.
export default async function* skipLedger(source) {
  for await (const event of source) {
    if (event.type !== 'test:pass' && event.type !== 'test:fail') continue;
    const { skip, todo, name, file } = event.data;
    if (skip === undefined && todo === undefined) continue;
    const reason = typeof skip === 'string' ? skip : typeof todo === 'string' ? todo : '';
    yield `${JSON.stringify({ file: file ?? '', name, kind: skip !== undefined ? 'skip' : 'todo', reason })}\n`;
  }
}
